//! What a worker left in the emulated account: every kind of resource its
//! Runner template creates, found by its tags or its names. Used by the
//! demo and the end-to-end tests to show that a destroy leaves nothing.

use std::collections::BTreeSet;

use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::{LocalError, Result};

fn fail(what: &str) -> impl Fn(String) -> LocalError + '_ {
    move |e| LocalError::Setup(format!("listing {what}: {e}"))
}

/// Resources still present for worker `name` in `region`, as
/// `kind: identifier` lines (empty when nothing is left).
pub async fn find(sdk: &SdkConfig, region: &str, name: &str) -> Result<Vec<String>> {
    let r = Region::new(region.to_string());
    let mut left = Vec::new();
    let prefix = format!("alethia-worker-{name}");

    let ecs = aws_sdk_ecs::Client::from_conf(
        aws_sdk_ecs::config::Builder::from(sdk)
            .region(r.clone())
            .build(),
    );
    let clusters = ecs
        .list_clusters()
        .send()
        .await
        .map_err(|e| fail("ECS clusters")(jobs_adapters::aws::source_chain(&e)))?;
    let arns = clusters.cluster_arns.unwrap_or_default();
    if !arns.is_empty() {
        let described = ecs
            .describe_clusters()
            .set_clusters(Some(arns))
            .send()
            .await
            .map_err(|e| fail("ECS clusters")(jobs_adapters::aws::source_chain(&e)))?;
        for c in described.clusters.unwrap_or_default() {
            let cname = c.cluster_name.clone().unwrap_or_default();
            // The emulator keeps deleted clusters listed as INACTIVE.
            if cname.starts_with(&prefix) && c.status.as_deref() == Some("ACTIVE") {
                left.push(format!("ecs cluster: {cname}"));
                let services = ecs
                    .list_services()
                    .cluster(&cname)
                    .send()
                    .await
                    .map_err(|e| fail("ECS services")(jobs_adapters::aws::source_chain(&e)))?;
                for s in services.service_arns.unwrap_or_default() {
                    left.push(format!("ecs service: {s}"));
                }
            }
        }
    }
    let families = ecs
        .list_task_definitions()
        .family_prefix(&prefix)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await;
    if let Ok(f) = families {
        for td in f.task_definition_arns.unwrap_or_default() {
            left.push(format!("ecs task definition (ACTIVE): {td}"));
        }
    }

    let iam = aws_sdk_iam::Client::new(sdk);
    let roles = iam
        .list_roles()
        .send()
        .await
        .map_err(|e| fail("IAM roles")(jobs_adapters::aws::source_chain(&e)))?;
    for role in roles.roles {
        if role.role_name.starts_with(&prefix) {
            left.push(format!("iam role: {}", role.role_name));
        }
    }

    let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
        aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
            .region(r.clone())
            .build(),
    );
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/alethia/workers/{name}"))
        .send()
        .await
        .map_err(|e| fail("log groups")(jobs_adapters::aws::source_chain(&e)))?;
    for g in groups.log_groups.unwrap_or_default() {
        left.push(format!(
            "log group: {}",
            g.log_group_name.unwrap_or_default()
        ));
    }

    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(sdk)
            .region(r.clone())
            .build(),
    );
    let sgs = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:alethia:worker")
                .values(name)
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail("security groups")(jobs_adapters::aws::source_chain(&e)))?;
    for g in sgs.security_groups.unwrap_or_default() {
        left.push(format!(
            "security group: {}",
            g.group_id.unwrap_or_default()
        ));
    }

    let sm = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .region(r)
            .build(),
    );
    let secrets = sm
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .map_err(|e| fail("secrets")(jobs_adapters::aws::source_chain(&e)))?;
    for s in secrets.secret_list.unwrap_or_default() {
        let sname = s.name.unwrap_or_default();
        if sname.starts_with(&format!("alethia/workers/{name}/")) {
            left.push(format!("secret: {sname}"));
        }
    }
    Ok(left)
}

/// Every resource of every kind the Runner template creates, in the whole
/// account (IAM) and in each of `regions`, whatever its name or tags: ECS
/// clusters and their services, ACTIVE task definitions, IAM roles and
/// their inline policies, log groups, security groups, secrets. Compare two
/// inventories to find what a run left behind without trusting names.
pub async fn inventory(sdk: &SdkConfig, regions: &[&str]) -> Result<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut roles = iam.list_roles().into_paginator().items().send();
    while let Some(role) = roles.next().await {
        let role = role.map_err(|e| fail("IAM roles")(jobs_adapters::aws::source_chain(&e)))?;
        let policies = iam
            .list_role_policies()
            .role_name(&role.role_name)
            .send()
            .await
            .map_err(|e| fail("IAM role policies")(jobs_adapters::aws::source_chain(&e)))?;
        for p in policies.policy_names {
            all.insert(format!("iam role policy: {}:{p}", role.role_name));
        }
        all.insert(format!("iam role: {}", role.role_name));
    }
    for region in regions {
        let r = Region::new(region.to_string());
        let ecs = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(sdk)
                .region(r.clone())
                .build(),
        );
        let clusters = ecs
            .list_clusters()
            .send()
            .await
            .map_err(|e| fail("ECS clusters")(jobs_adapters::aws::source_chain(&e)))?
            .cluster_arns
            .unwrap_or_default();
        if !clusters.is_empty() {
            let described = ecs
                .describe_clusters()
                .set_clusters(Some(clusters))
                .send()
                .await
                .map_err(|e| fail("ECS clusters")(jobs_adapters::aws::source_chain(&e)))?;
            for c in described.clusters.unwrap_or_default() {
                // The emulator keeps deleted clusters listed as INACTIVE.
                if c.status.as_deref() != Some("ACTIVE") {
                    continue;
                }
                let arn = c.cluster_arn.unwrap_or_default();
                let services = ecs
                    .list_services()
                    .cluster(&arn)
                    .send()
                    .await
                    .map_err(|e| fail("ECS services")(jobs_adapters::aws::source_chain(&e)))?;
                for s in services.service_arns.unwrap_or_default() {
                    all.insert(format!("ecs service: {s}"));
                }
                all.insert(format!("ecs cluster: {arn}"));
            }
        }
        let mut defs = ecs
            .list_task_definitions()
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .into_paginator()
            .items()
            .send();
        while let Some(td) = defs.next().await {
            let td =
                td.map_err(|e| fail("ECS task definitions")(jobs_adapters::aws::source_chain(&e)))?;
            all.insert(format!("ecs task definition: {td}"));
        }
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
                .region(r.clone())
                .build(),
        );
        let mut groups = logs.describe_log_groups().into_paginator().items().send();
        while let Some(g) = groups.next().await {
            let g = g.map_err(|e| fail("log groups")(jobs_adapters::aws::source_chain(&e)))?;
            all.insert(format!(
                "log group ({region}): {}",
                g.log_group_name.unwrap_or_default()
            ));
        }
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(sdk)
                .region(r.clone())
                .build(),
        );
        let mut sgs = ec2
            .describe_security_groups()
            .into_paginator()
            .items()
            .send();
        while let Some(g) = sgs.next().await {
            let g = g.map_err(|e| fail("security groups")(jobs_adapters::aws::source_chain(&e)))?;
            all.insert(format!(
                "security group ({region}): {}",
                g.group_id.unwrap_or_default()
            ));
        }
        let sm = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(sdk)
                .region(r)
                .build(),
        );
        let mut secrets = sm
            .list_secrets()
            .include_planned_deletion(true)
            .into_paginator()
            .send();
        while let Some(page) = secrets.next().await {
            let page = page.map_err(|e| fail("secrets")(jobs_adapters::aws::source_chain(&e)))?;
            for s in page.secret_list.unwrap_or_default() {
                all.insert(format!("secret: {}", s.arn.unwrap_or_default()));
            }
        }
    }
    Ok(all)
}
