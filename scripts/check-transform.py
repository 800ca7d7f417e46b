"""template.yaml through the SAM transform CloudFormation runs (the aws-sam-translator
package), for what only its output shows: each function's log group, canary alarms and
failure destination as SAM wires them, CORS and the custom-domain switch, and every Ref and
GetAtt naming something that exists. Run by scripts/test.sh after cfn-lint; exits 1 on a
failure. Fn::ForEach is expanded first, as CloudFormation's LanguageExtensions transform does.
"""

import copy
import json
import logging
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
logging.disable(logging.WARNING)  # the translator's own notes, not findings

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

REQUIRED = {
    "JwtIssuer": "https://login.example.com/",
    "JwtAudience": "profiles",
    "PublicBaseUrl": "https://id.example.com",
    "EmailFrom": "no-reply@example.com",
    "SesIdentity": "example.com",
    "TenantSettings": "{}",
}
SCENARIOS = {
    "defaults": {},
    "edges": {
        "CorsAllowedOrigins": "https://app.example.com,https://admin.example.com",
        "DomainName": "api.example.com",
        "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
        "CanaryDeployments": "false",
    },
}
# No canary alarm of its own (docs/operations.md, "Deploys").
WITHOUT_OWN_CANARY_ALARM = {"PurgeFunction"}
ASYNC = {"PurgeFunction", "EmailOutboxFunction", "SesFeedbackFunction"}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def expand(template):
    resources = template["Resources"]
    for key in [k for k in resources if k.startswith("Fn::ForEach::")]:
        identifier, collection, fragment = resources.pop(key)
        text = json.dumps(fragment)
        for value in collection:
            resources.update(json.loads(text.replace("${%s}" % identifier, value)))
    template["Transform"] = "AWS::Serverless-2016-10-31"
    # sam build puts each function's artifact in S3; any S3 URI stands in for it here.
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/function.zip"
    return template


class Policies:
    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSLambdaRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
        }


def references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else value.split(".")[0]
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def translated(source, parameters):
    out = transform(copy.deepcopy(source), {**REQUIRED, **parameters}, Policies())
    resources = out["Resources"]
    known = set(resources) | set(out.get("Parameters", {})) | {
        "AWS::AccountId", "AWS::NoValue", "AWS::Partition", "AWS::Region",
        "AWS::StackName", "AWS::StackId", "AWS::URLSuffix",
    }
    for name, resource in resources.items():
        for target in references(resource):
            check(target in known, f"{name} names {target}, which does not exist")
    return resources


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "template.yaml")) as f:
        source = expand(yaml_parse(f.read()))
    functions = [n for n, r in source["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]

    resources = translated(source, SCENARIOS["defaults"])
    for name in functions:
        base = name[: -len("Function")]
        logging = resources[name]["Properties"].get("LoggingConfig", {})
        check(logging.get("LogGroup") == {"Ref": f"{base}Logs"}, f"{name} logs elsewhere: {logging}")
        group = resources.get(f"{name}DeploymentGroup")
        check(group is not None, f"{name} has no canary deployment")
        if group:
            alarms = [a["Name"] for a in group["Properties"]["AlarmConfiguration"]["Alarms"]]
            own = [] if name in WITHOUT_OWN_CANARY_ALARM else [{"Ref": f"{base}Errors"}]
            want = [{"Ref": "ApiServerErrorRateAlarm"}, {"Ref": "ApiLatencyAlarm"}] + own
            check(alarms == want, f"{name}'s canary watches {alarms}")
        if name in ASYNC:
            invoke = resources.get(f"{name}EventInvokeConfig", {}).get("Properties", {})
            destination = invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            check(destination == {"Fn::GetAtt": ["FailedEventQueue", "Arn"]},
                  f"{name} sends failures to {destination}")
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Scheduler::Schedule":
            target = resource["Properties"]["Target"]
            check(target.get("DeadLetterConfig", {}).get("Arn") == {"Fn::GetAtt": ["FailedEventQueue", "Arn"]},
                  f"{name} has no dead-letter queue")
            check("Alias" in json.dumps(target["Arn"]), f"{name} invokes {target['Arn']}, not the alias")

    resources = translated(source, SCENARIOS["edges"])
    check(not any(n.endswith("DeploymentGroup") for n in resources),
          "CanaryDeployments=false still deploys through CodeDeploy")
    body = resources["HttpApi"]["Properties"]["Body"]
    cors = body.get("x-amazon-apigateway-cors", {}).get("Fn::If", [None, {}])[1]
    check(cors.get("allowOrigins") == {"Fn::Split": [",", SCENARIOS["edges"]["CorsAllowedOrigins"]]},
          f"CORS origins are {cors.get('allowOrigins')}")
    check(set(cors.get("allowMethods", [])) >= {"GET", "POST", "PATCH", "DELETE"}, f"CORS methods {cors}")
    endpoint = body.get("servers", [{}])[0].get("x-amazon-apigateway-endpoint-configuration", {})
    check(endpoint.get("disableExecuteApiEndpoint") == {"Fn::If": ["HasDomain", True, False]},
          f"the execute-api switch is {endpoint}")

    if failures:
        print("template.yaml through the SAM transform:", *failures, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(f"template.yaml through the SAM transform: {len(functions)} functions wired as the docs say")


main()
