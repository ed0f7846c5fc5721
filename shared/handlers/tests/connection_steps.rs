//! CONNECTION_TEST and FETCH_RESOURCES steps alone: the identity is
//! assumed under a session naming the job, the inventory is written by the
//! step that discovers it, and only counts travel on.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use jobs_domain::inventory::{FetchOutcome, FetchStatus, Inventory, ResourceType, Vpc};
use jobs_domain::params::JobParams;
use jobs_domain::ports::IdentityStore;
use jobs_domain::{ErrorKind, StepError};
use jobs_handlers::steps::{DiscoverResources, VerifyIdentity};
use serde_json::json;

#[tokio::test]
async fn verify_identity_answers_who_we_are_under_a_session_naming_the_job() {
    let w = World::new();
    w.identity("acme").await;
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    let out = w
        .run::<VerifyIdentity>(json!({"job_id": job.id, "step": "VerifyIdentity"}))
        .await
        .unwrap();
    assert_eq!(out["account"], "111122223333");
    assert!(
        out["arn"]
            .as_str()
            .unwrap()
            .contains("assumed-role/AlethiaDiscovery")
    );
    assert_eq!(w.cloud.sessions(), [format!("alethia-{}", job.id)]);
}

/// Every step runs in these tests with only the ports of its `USES` (the
/// harness's `run`); one given fewer fails at once, naming the missing port,
/// and the identity is never assumed.
#[tokio::test]
async fn a_step_without_a_port_it_uses_fails_naming_the_port() {
    let w = World::new();
    w.identity("acme").await;
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    let deps = w.steps().only(&[jobs_handlers::Port::Identities]);
    let e = jobs_handlers::steps::invoke::<VerifyIdentity>(&deps, json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Fatal.Internal");
    assert!(e.message.contains("Port::Verifier"), "{}", e.message);
    assert!(w.cloud.sessions().is_empty());
}

#[tokio::test]
async fn a_denied_role_fails_the_step_fatally_with_the_adapters_message() {
    let w = World::new();
    w.identity("acme").await;
    let job = w
        .running_job(JobParams::ConnectionTest {
            cloud_identity_id: "acme".into(),
        })
        .await;
    w.cloud.faults.fail_next(
        "verify",
        StepError::new(
            ErrorKind::AccessDenied,
            "check the role's trust policy and ExternalId",
        ),
    );
    let e = w
        .run::<VerifyIdentity>(json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Fatal.AccessDenied");
    assert!(e.message.contains("ExternalId"));
}

#[tokio::test]
async fn a_missing_identity_is_not_found() {
    let w = World::new();
    let job = w
        .running_job(JobParams::FetchResources {
            cloud_identity_id: "gone".into(),
        })
        .await;
    let e = w
        .run::<DiscoverResources>(json!({"job_id": job.id}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Fatal.NotFound");
}

#[tokio::test]
async fn discover_resources_caches_the_inventory_and_passes_on_counts() {
    let w = World::new();
    w.identity("acme").await;
    let mut inventory = Inventory {
        fetched_at: chrono::Utc::now(),
        account_id: String::new(),
        regions: vec![REGION.into()],
        resources: Default::default(),
        outcomes: vec![FetchOutcome {
            resource_type: ResourceType::IamUsers,
            region: "global".into(),
            status: FetchStatus::AccessDenied,
            count: 0,
            message: Some("iam:ListUsers denied".into()),
        }],
    };
    inventory.resources.vpcs.insert(
        REGION.into(),
        (0..3)
            .map(|i| Vpc {
                id: format!("vpc-{i:04}"),
                cidr_block: "10.0.0.0/16".into(),
                is_default: i == 0,
                name: None,
                state: None,
            })
            .collect(),
    );
    w.cloud.set_inventory(inventory);
    let job = w
        .running_job(JobParams::FetchResources {
            cloud_identity_id: "acme".into(),
        })
        .await;
    let out = w
        .run::<DiscoverResources>(json!({"job_id": job.id}))
        .await
        .unwrap();
    assert_eq!(out["counts"]["vpcs"], 3);
    assert_eq!(out["problems"], 1);
    assert!(
        !out.to_string().contains("vpc-0001"),
        "ids stay in the store, not the payload"
    );
    let stored = w
        .identities
        .inventory(OWNER, "acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.account_id, "111122223333");
    assert_eq!(stored.resources.vpcs[REGION].len(), 3);
}
