import ArgumentParser
import Foundation
import Formats
import Packager

extension Skiff {
    struct Recipes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the deployment recipes (recipes/*.yaml, $SKIFF_RECIPES) or show one.",
            discussion: "A recipe names a deployable model: its source format, how to convert it and how to deploy it. Use one with 'skiff package lambda --model NAME --from SOURCE'.")

        @Argument(help: "A recipe name or file to show in full.")
        var recipe: String?

        @OptionGroup var global: GlobalOptions

        func run() throws {
            if let recipe {
                let r = try RecipeBook.find(recipe)
                if global.json { return try CLIOutput.printJSON(r) }
                print("\(r.name): \(r.description)")
                print("  file:     \(r.path ?? "-")")
                print("  source:   \(r.source.format)\(r.source.description.map { " — \($0)" } ?? "")")
                print("  convert:  skiff convert \(r.source.format) SOURCE \(r.convertArguments.joined(separator: " "))")
                print("  deploy:   \(r.deploy.memory) MB, \(r.deploy.timeout) s, \(r.deploy.architecture), top \(r.deploy.topK)")
                return
            }
            let all = try RecipeBook.all()
            if global.json { return try CLIOutput.printJSON(all) }
            if all.isEmpty {
                print("no recipes found (looked in: \(RecipeBook.directories().joined(separator: ", ")); set SKIFF_RECIPES)")
                return
            }
            let width = all.map(\.name.count).max() ?? 0
            for r in all {
                print(r.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + r.description)
            }
        }
    }
}
