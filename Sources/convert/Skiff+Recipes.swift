import ArgumentParser
import Foundation
import Formats
import Importers
import Packager

extension Skiff {
    struct Recipes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the deployment recipes (built in, and any in $SKIFF_RECIPES) or show one.",
            discussion: """
            A recipe names a deployable model: its source format, how to convert it and how to deploy it. Use one with \
            'skiff package lambda --model NAME --from SOURCE', or your own file with '--recipe FILE'. Recipes are looked up \
            in the folders of $SKIFF_RECIPES (separated by ':'), then among the recipes built into skiff; the current \
            directory plays no part.
            """)

        @Argument(help: "A recipe name (or recipe file) to show in full.")
        var recipe: String?

        @Option(name: .customLong("recipe"), help: "A recipe file to show in full (instead of a name).")
        var recipeFile: String?

        @Flag(help: "Print the recipe's labels file as it is (to start your own: skiff recipes NAME --labels > labels.txt).")
        var labels = false

        @OptionGroup var global: GlobalOptions

        func validate() throws {
            if recipe != nil && recipeFile != nil { throw ValidationError("give a recipe name or --recipe FILE, not both") }
            if labels && recipe == nil && recipeFile == nil { throw ValidationError("--labels needs a recipe: skiff recipes NAME --labels") }
        }

        func run() throws {
            if let recipeFile { return try show(Recipe.load(path: recipeFile)) }
            if let recipe { return try show(RecipeBook.find(recipe)) }
            let all = try RecipeBook.all()
            guard !all.isEmpty else {
                throw FormatsError(.io, "no recipes found (looked in: \(RecipeBook.searchPath())); add NAME.yaml files to a folder named in SKIFF_RECIPES, or pass --recipe FILE")
            }
            if global.json { return try CLIOutput.printJSON(all) }
            let width = all.map(\.name.count).max() ?? 0
            for r in all {
                print(r.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + r.description + (r.path.map { "  (\($0))" } ?? ""))
            }
        }

        func show(_ r: Recipe) throws {
            if labels {
                guard let text = try r.labelsText() else { throw ValidationError("recipe '\(r.name)' has no labels file") }
                return print(text, terminator: "")
            }
            if global.json { return try CLIOutput.printJSON(r) }
            print("\(r.name): \(r.description)")
            print("  file:     \(r.path ?? "built in" + (r.builtinLabelsFileName.map { " (its labels: skiff recipes \(r.name) --labels > \($0))" } ?? ""))")
            print("  source:   \(r.source.format)\(r.source.description.map { " — \($0)" } ?? "")")
            print("  convert:  skiff convert \(r.source.format) SOURCE \(r.convertArguments.joined(separator: " "))")
            print("  deploy:   \(r.deploy.memory) MB, \(r.deploy.timeout) s, \(r.deploy.architecture), top \(r.deploy.topK)")
        }
    }
}
