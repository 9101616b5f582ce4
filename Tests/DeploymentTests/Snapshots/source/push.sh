#!/usr/bin/env bash
# Build the image, push it to ECR and deploy the stack. Every account-specific value is a variable:
#   AWS_REGION      (default: aws configure get region)
#   AWS_ACCOUNT_ID  (default: aws sts get-caller-identity)
#   REPOSITORY      ECR repository (default: squeezenet); created if missing
#   TAG             image tag (default: the model's sha256 prefix from manifest.json)
#   STACK           CloudFormation stack (default: squeezenet)
#   FUNCTION_URL    true to also create a public Function URL (default: false)
#   UPDATE_ONLY     set to a function name to only point that existing function at the new image
#   PARAMETERS      more template parameters, space-separated Key=Value (the sinks: ImageBucket=…
#                   RecordUrl=… DatabaseSecretArn=… SinkMode=… SubnetIds=a,b SecurityGroupIds=sg-1)
set -euo pipefail
cd "$(dirname "$0")"

AWS_REGION="${AWS_REGION:-$(aws configure get region)}"
AWS_ACCOUNT_ID="${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --query Account --output text)}"
REPOSITORY="${REPOSITORY:-squeezenet}"
TAG="${TAG:-$(sed -n 's/.*"model_sha256" *: *"\([0-9a-f]\{12\}\).*/\1/p' manifest.json)}"
STACK="${STACK:-squeezenet}"
FUNCTION_URL="${FUNCTION_URL:-false}"
REGISTRY="$AWS_ACCOUNT_ID.dkr.ecr.$AWS_REGION.amazonaws.com"
IMAGE="$REGISTRY/$REPOSITORY:$TAG"

aws ecr describe-repositories --region "$AWS_REGION" --repository-names "$REPOSITORY" >/dev/null 2>&1 \
  || aws ecr create-repository --region "$AWS_REGION" --repository-name "$REPOSITORY" >/dev/null
aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$REGISTRY"

# --provenance=false: Lambda rejects the OCI image index BuildKit writes for provenance attestations.
docker build --platform linux/amd64 --provenance=false -t "$IMAGE" .
docker push "$IMAGE"

if [ -n "${UPDATE_ONLY:-}" ]; then
  aws lambda update-function-code --region "$AWS_REGION" --function-name "$UPDATE_ONLY" --image-uri "$IMAGE" >/dev/null
  echo "updated $UPDATE_ONLY to $IMAGE"
else
  sam deploy --region "$AWS_REGION" --template-file template.yaml --stack-name "$STACK" \
    --capabilities CAPABILITY_IAM --image-repository "$REGISTRY/$REPOSITORY" --no-fail-on-empty-changeset \
    --parameter-overrides "ImageUri=$IMAGE" "EnableFunctionUrl=$FUNCTION_URL" ${PARAMETERS:-}
  aws cloudformation describe-stacks --region "$AWS_REGION" --stack-name "$STACK" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
fi
