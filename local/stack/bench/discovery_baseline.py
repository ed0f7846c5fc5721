"""The baseline for the discovery benchmark: what a user would otherwise
write -- a plain, sequential boto3 script with the default paginators.

Reads the role ARN, ExternalId and regions (a comma-separated list, or
"all": every region DescribeRegions says is enabled) from its arguments;
prints one JSON line with the wall time, the HTTP calls made (retries
included), the throttled answers it got and what it found. Runs against
whatever AWS_ENDPOINT_URL points at (the local stack's moto, or the
benchmark's proxy in front of it). boto3's default retries, as a user gets
them.
"""
import json
import sys
import time

import boto3

role_arn, external_id, regions = sys.argv[1], sys.argv[2], sys.argv[3]
calls = 0
throttled = 0


def count(**_):
    global calls
    calls += 1


def attempted(response=None, **_):
    # needs-retry follows every attempt, the last one too.
    global throttled
    if response is not None:
        code = (response[1] or {}).get("Error", {}).get("Code")
        if code in ("Throttling", "ThrottlingException", "RequestLimitExceeded"):
            throttled += 1


def client(service, creds, region):
    c = boto3.client(
        service,
        region_name=region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    c.meta.events.register("before-send", count)
    c.meta.events.register("needs-retry", attempted)
    return c


start = time.perf_counter()
sts = boto3.client("sts")
sts.meta.events.register("before-send", count)
sts.meta.events.register("needs-retry", attempted)
creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="baseline", ExternalId=external_id)["Credentials"]
found = {"vpcs": 0, "subnets": 0, "security_groups": 0, "hosted_zones": 0, "iam_users": 0}
if regions == "all":
    listed = client("ec2", creds, "us-east-1").describe_regions()["Regions"]
    regions = [r["RegionName"] for r in listed if r.get("OptInStatus") != "not-opted-in"]
else:
    regions = regions.split(",")
for region in regions:
    ec2 = client("ec2", creds, region)
    for page in ec2.get_paginator("describe_vpcs").paginate():
        found["vpcs"] += len(page["Vpcs"])
    for page in ec2.get_paginator("describe_subnets").paginate():
        found["subnets"] += len(page["Subnets"])
    for page in ec2.get_paginator("describe_security_groups").paginate():
        found["security_groups"] += len(page["SecurityGroups"])
for page in client("route53", creds, "us-east-1").get_paginator("list_hosted_zones").paginate():
    found["hosted_zones"] += len(page["HostedZones"])
for page in client("iam", creds, "us-east-1").get_paginator("list_users").paginate():
    found["iam_users"] += len(page["Users"])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "calls": calls, "throttled": throttled, "regions": len(regions), "found": found}))
