//! Rows of `authentication_providers`: the SSO integrations of the Admin and Developer Portals.

use super::super::copy::{Rows, b, n, s};
use super::super::model::{TENANT_ACCOUNT_ID, hex};
use super::hosts::{At, Hosts};

pub(super) fn authentication_providers(hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "authentication_providers",
        &[
            "id",
            "name",
            "system_name",
            "client_id",
            "client_secret",
            "token_url",
            "user_info_url",
            "authorize_url",
            "site",
            "account_id",
            "created_at",
            "updated_at",
            "tenant_id",
            "kind",
            "published",
            "type",
            "skip_ssl_certificate_verification",
            "account_type",
        ],
    );
    let sso = hosts.sso();
    let secret = |n: u64| s(hex(0x5c, n, 32));
    let mut push = |id: i64,
                    name: &str,
                    system_name: &str,
                    client: &str,
                    urls: [Option<String>; 4],
                    kind: &str,
                    class: &str,
                    skip_ssl: bool,
                    account_type: &str| {
        let [token, user_info, authorize, site] = urls;
        rows.push(vec![
            n(id),
            s(name),
            s(system_name),
            s(client),
            secret(id as u64),
            token,
            user_info,
            authorize,
            site,
            n(TENANT_ACCOUNT_ID),
            at(250),
            at(25),
            n(TENANT_ACCOUNT_ID),
            s(kind),
            b(true),
            s(class),
            b(skip_ssl),
            s(account_type),
        ]);
    };
    // The Admin Portal SSO the customer set up against their own RH-SSO. Not named `rhsso`:
    // that is the one RHOAM creates on its tenant (`sim::seed::rhoam_sso`), and a source's
    // of that name would stop RHOAM from creating its own.
    push(
        1,
        "Corporate SSO",
        "corporate_sso",
        "3scale-admin",
        [
            None,
            None,
            None,
            s(format!("https://{sso}/auth/realms/openshift")),
        ],
        "keycloak",
        "AuthenticationProvider::Keycloak",
        true,
        "provider",
    );
    push(
        2,
        "Red Hat Single Sign-On",
        "keycloak_4f1c",
        "3scale-devportal",
        [
            None,
            None,
            None,
            s(format!("https://{sso}/auth/realms/developers")),
        ],
        "keycloak",
        "AuthenticationProvider::Keycloak",
        true,
        "developer",
    );
    push(
        3,
        "GitHub",
        "github_7a2e",
        "Iv1.a1b2c3d4e5f6a7b8",
        [
            s("https://github.com/login/oauth/access_token"),
            s("https://api.github.com/user"),
            s("https://github.com/login/oauth/authorize"),
            s("https://github.com"),
        ],
        "github",
        "AuthenticationProvider::GitHub",
        false,
        "developer",
    );
    push(
        4,
        "Auth0",
        "auth0_9d03",
        "kq2Vd0eX3mT8pL5sN1aB",
        [None, None, None, s("https://example-corp.eu.auth0.com")],
        "auth0",
        "AuthenticationProvider::Auth0",
        false,
        "developer",
    );
    rows
}
