//! A large inventory reads back whole, page by page, through
//! `GET /api/cloud-identities/{id}/resources`, and no answer approaches
//! Lambda's 6 MB response limit.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use jobs_domain::inventory::{Inventory, Resources, Subnet};
use jobs_domain::ports::IdentityStore;
use serde_json::{Value, json};

const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;

fn inventory(subnets_per_region: usize) -> Inventory {
    let mut resources = Resources::default();
    for region in ["eu-west-1", "us-east-1", "us-west-2"] {
        resources.subnets.insert(
            region.into(),
            (0..subnets_per_region)
                .map(|i| Subnet {
                    id: format!("subnet-{region}-{i:06}"),
                    vpc_id: format!("vpc-{:04}", i / 250),
                    cidr_block: format!("10.{}.{}.0/24", i / 256, i % 256),
                    availability_zone: format!("{region}a"),
                    name: Some(format!("private-{i}")),
                })
                .collect(),
        );
    }
    Inventory {
        fetched_at: chrono::Utc::now(),
        account_id: "111122223333".into(),
        regions: vec!["eu-west-1".into(), "us-east-1".into(), "us-west-2".into()],
        resources,
        outcomes: vec![],
    }
}

async fn get(w: &World, path: &str) -> (u16, Value, usize) {
    let (status, body, raw) = w.call_jobs(event("GET", path, &[], None)).await;
    let size = match &raw.body {
        Some(aws_lambda_events::encodings::Body::Text(t)) => t.len(),
        _ => 0,
    };
    (status, body, size)
}

#[tokio::test]
async fn fifty_thousand_subnets_read_back_whole_through_pages() {
    let w = World::new();
    w.identity("big").await;
    let inv = inventory(16_667);
    w.identities
        .save_inventory(OWNER, "big", &inv)
        .await
        .unwrap();

    // The identity's view leaves them out and says where they are.
    let (status, view, size) = get(&w, "/api/cloud-identities/big").await;
    assert_eq!(status, 200);
    assert!(
        view["resources"].is_null() && view["resources_paged"].is_string(),
        "{}",
        view["resources_paged"]
    );
    assert_eq!(view["summary"]["subnets"], 50_001);
    assert!(size < LAMBDA_RESPONSE_LIMIT);

    let mut seen = BTreeSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(t) => format!(
                "/api/cloud-identities/big/resources?type=subnets&limit=5000&next_token={t}"
            ),
            None => "/api/cloud-identities/big/resources?type=subnets&limit=5000".into(),
        };
        let (status, page, size) = get(&w, &path).await;
        assert_eq!(status, 200, "{page}");
        assert!(size < LAMBDA_RESPONSE_LIMIT / 4, "a page of {size} bytes");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_string()),
                "{item} twice"
            );
        }
        match page["next_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 50_001, "every subnet once");
    assert_eq!(pages, 11);

    // One region only, then a token misused.
    let (_, first, _) = get(
        &w,
        "/api/cloud-identities/big/resources?type=subnets&region=us-west-2&limit=10",
    )
    .await;
    assert_eq!(first["total"], 16_667);
    assert!(
        first["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["region"] == "us-west-2")
    );
    let t = first["next_token"].as_str().unwrap();
    for bad in [
        format!("/api/cloud-identities/big/resources?type=vpcs&region=us-west-2&next_token={t}"),
        format!("/api/cloud-identities/big/resources?type=subnets&next_token={t}"),
        "/api/cloud-identities/big/resources?type=subnets&next_token=forged".to_string(),
    ] {
        let (status, body, _) = get(&w, &bad).await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (400, json!("next_token")),
            "{bad}"
        );
    }
    // A refresh in between invalidates the token.
    let mut again = inv.clone();
    again.fetched_at += chrono::Duration::seconds(5);
    w.identities
        .save_inventory(OWNER, "big", &again)
        .await
        .unwrap();
    let (status, body, _) = get(&w, &format!("/api/cloud-identities/big/resources?type=subnets&region=us-west-2&limit=10&next_token={t}")).await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("next_token"))
    );

    for (bad, field) in [
        ("type=disks", "type"),
        ("type=subnets&limit=0", "limit"),
        ("type=subnets&region=x%2F..", "region"),
        ("", "type"),
    ] {
        let (status, body, _) =
            get(&w, &format!("/api/cloud-identities/big/resources?{bad}")).await;
        assert_eq!(
            (status, body["error"]["field"].clone()),
            (400, json!(field)),
            "{bad}"
        );
    }
    let (status, _, _) = get(&w, "/api/cloud-identities/nobody/resources?type=vpcs").await;
    assert_eq!(status, 404);
}
