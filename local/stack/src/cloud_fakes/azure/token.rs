//! The Microsoft identity platform's token endpoint: client credentials
//! with a client secret, refused as Entra ID refuses them.

use serde_json::json;

use super::world::{AppSecret, AzureWorld};
use super::{Azure, aad_error};
use crate::cloud_fakes::{Call, Ctx, Reply, param};

impl Azure {
    /// Client credentials with a shared secret,
    /// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    /// (errors as in the "Error response" section there and the AADSTS
    /// codes of https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes).
    pub(super) fn token(
        &mut self,
        world: &AzureWorld,
        ctx: &mut Ctx<'_>,
        call: &Call,
        tenant: &str,
    ) -> Reply {
        let form = call.form();
        let get = |name: &str| param(&form, name).filter(|v| !v.is_empty());
        let missing = |name: &str| {
            aad_error(
                ctx,
                call,
                400,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{name}'."),
            )
        };
        let Some(directory) = world
            .tenants
            .iter()
            .find(|t| t.tenant_id.eq_ignore_ascii_case(tenant))
        else {
            return aad_error(
                ctx,
                call,
                400,
                "invalid_request",
                90002,
                &format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                ),
            );
        };
        let Some(grant) = get("grant_type") else {
            return missing("grant_type");
        };
        if grant != "client_credentials" {
            return aad_error(
                ctx,
                call,
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{grant}'."),
            );
        }
        let Some(client) = get("client_id") else {
            return missing("client_id");
        };
        let Some(scope) = get("scope") else {
            return missing("scope");
        };
        let resource = format!("{}/.default", ctx.base);
        if scope != resource {
            return aad_error(
                ctx,
                call,
                400,
                "invalid_scope",
                70011,
                &format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid (expected {resource})."
                ),
            );
        }
        let Some(app) = directory
            .apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client))
        else {
            return aad_error(
                ctx,
                call,
                400,
                "unauthorized_client",
                700016,
                &format!(
                    "Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            );
        };
        let Some(secret) = get("client_secret") else {
            return aad_error(
                ctx,
                call,
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        };
        let matching: Vec<&AppSecret> = app.secrets.iter().filter(|s| s.value == secret).collect();
        if matching.is_empty() {
            return aad_error(
                ctx,
                call,
                401,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client}'."
                ),
            );
        }
        if matching.iter().all(|s| s.expired) {
            return aad_error(
                ctx,
                call,
                401,
                "invalid_client",
                7000222,
                &format!(
                    "The provided client secret keys for app '{client}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
                ),
            );
        }
        let token = ctx.issue("eyJ0eXAiOiJKV1Qi.fake-");
        self.tokens.insert(
            token.clone(),
            (directory.tenant_id.clone(), app.client_id.clone()),
        );
        Reply::json(
            200,
            json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }),
        )
    }
}
