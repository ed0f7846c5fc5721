//! IAM Service Account Credentials' `generateAccessToken`: a federated
//! token impersonating a service account open to the pool.

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::world::GoogleWorld;
use super::{Google, Holder, invalid_argument, sa_permission_denied, unauthenticated};
use crate::cloud_fakes::{Call, Ctx, Reply};

impl Google {
    /// https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
    pub(super) fn generate(
        &mut self,
        world: &GoogleWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        project: &str,
        email: &str,
    ) -> Reply {
        match call.bearer().and_then(|t| self.tokens.get(t)) {
            None => return unauthenticated(false),
            // Impersonation chains are not modelled: a service account's
            // token holds no role on another service account.
            Some(Holder::ServiceAccount { .. }) => return sa_permission_denied(),
            Some(Holder::Federated) => {}
        }
        if project != "-" {
            return invalid_argument(
                &format!(
                    "Invalid resource name projects/{project}/serviceAccounts/{email}: the project must be the wildcard '-'."
                ),
                false,
            );
        }
        let body: Value = match serde_json::from_str(&call.rec.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return invalid_argument(
                    "Invalid JSON payload received. Expected an object with \"scope\".",
                    false,
                );
            }
        };
        let scopes: Option<Vec<String>> = body
            .get("scope")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect());
        let Some(scopes) = scopes.filter(|s| !s.is_empty()) else {
            return invalid_argument("Scope required.", false);
        };
        let lifetime = match body.get("lifetime") {
            None => 3600,
            Some(v) => match v
                .as_str()
                .and_then(|s| s.strip_suffix('s'))
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(s) if (1..=3600).contains(&s) => s,
                _ => {
                    return invalid_argument(
                        &format!(
                            "The lifetime {v} is invalid: it must be a duration like \"3600s\" of at most 3600 seconds."
                        ),
                        false,
                    );
                }
            },
        };
        let found = world.projects.iter().find_map(|p| {
            p.service_accounts
                .iter()
                .find(|sa| sa.email.eq_ignore_ascii_case(email))
                .map(|sa| (p, sa))
        });
        let Some((home, _)) = found.filter(|(_, sa)| sa.federated_users_allowed) else {
            return sa_permission_denied();
        };
        let project_id = email
            .split_once('@')
            .and_then(|(_, domain)| domain.strip_suffix(".iam.gserviceaccount.com"))
            .unwrap_or(&home.project_id)
            .to_string();
        let token = ctx.issue("ya29.satok-");
        self.tokens
            .insert(token.clone(), Holder::ServiceAccount { project_id, scopes });
        let expires = Utc::now() + chrono::Duration::seconds(lifetime);
        Reply::json(
            200,
            json!({
                "accessToken": token,
                "expireTime": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
            }),
        )
    }
}
