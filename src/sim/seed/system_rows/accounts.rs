//! Rows of the accounts side: master, tenant and developers, their users, settings, tokens.

use super::super::copy::{Rows, b, n, s};
use super::super::model::{
    IMPERSONATION_ADMIN_ID, MASTER_ACCOUNT_ID, MASTER_SERVICE_ID, MASTER_USER_ID, Model,
    TENANT_ACCOUNT_ID, TENANT_ADMIN_ID, TENANT_MEMBERS, TENANT_NAME, hex,
};
use super::hosts::{At, Hosts};

pub(super) fn accounts(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "accounts",
        &[
            "id",
            "org_name",
            "created_at",
            "updated_at",
            "provider",
            "buyer",
            "provider_account_id",
            "domain",
            "self_domain",
            "master",
            "state",
            "from_email",
            "support_email",
            "finance_support_email",
            "default_account_plan_id",
            "default_service_id",
            "tenant_id",
            "s3_prefix",
            "state_changed_at",
        ],
    );
    let no_reply = s(format!("no-reply@{}", hosts.wildcard));
    // Master's `provider` column may be false: `provider?` is `provider || master?` in porta.
    rows.push(vec![
        n(MASTER_ACCOUNT_ID),
        s("Master Account"),
        at(400),
        at(3),
        b(false),
        b(false),
        n(MASTER_ACCOUNT_ID),
        s(hosts.master()),
        s(hosts.master()),
        b(true),
        s("approved"),
        no_reply.clone(),
        s(format!("master@{}", hosts.master())),
        None,
        n(model.master_account_plan_id),
        n(MASTER_SERVICE_ID),
        n(MASTER_ACCOUNT_ID),
        s("master"),
        at(400),
    ]);
    let first_service = model.services.first().map(|svc| svc.id);
    rows.push(vec![
        n(TENANT_ACCOUNT_ID),
        s(TENANT_NAME),
        at(400),
        at(1),
        b(true),
        b(true),
        n(MASTER_ACCOUNT_ID),
        s(hosts.tenant()),
        s(hosts.tenant_admin()),
        None,
        s("approved"),
        no_reply,
        s(format!("admin@{}", hosts.tenant())),
        s(format!("finance@{}", hosts.tenant())),
        n(model.tenant_account_plan_id),
        first_service.map(|id| id.to_string()),
        n(TENANT_ACCOUNT_ID),
        s(TENANT_NAME),
        at(400),
    ]);
    for (i, buyer) in model.buyers.iter().enumerate() {
        let days = 300 - i64::try_from(i % 300).unwrap_or(0);
        rows.push(vec![
            n(buyer.account_id),
            s(&buyer.org_name),
            at(days),
            at(days / 2),
            b(false),
            b(true),
            n(TENANT_ACCOUNT_ID),
            None,
            None,
            None,
            s("approved"),
            None,
            None,
            None,
            n(model.tenant_account_plan_id),
            None,
            n(TENANT_ACCOUNT_ID),
            None,
            at(days),
        ]);
    }
    rows
}

pub(super) fn users(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "users",
        &[
            "id",
            "username",
            "email",
            "created_at",
            "updated_at",
            "activated_at",
            "state",
            "role",
            "account_id",
            "first_name",
            "last_name",
            "signup_type",
            "last_login_at",
            "tenant_id",
            "password_digest",
        ],
    );
    let digest = || s(format!("$2a$10${}", hex(0xb0, 1, 53)));
    let mut push_as =
        |role: &str, id: i64, name: &str, email: String, account: i64, tenant: i64, first: &str| {
            rows.push(vec![
                n(id),
                s(name),
                s(email),
                at(400),
                at(2),
                at(400),
                s("active"),
                s(role),
                n(account),
                s(first),
                None,
                s("minimal"),
                at(1),
                n(tenant),
                digest(),
            ]);
        };

    // The seeded defaults: USER_LOGIN@<provider internal domain> when ADMIN_EMAIL is empty, and
    // the impersonation admin's address built from the admin domain.
    push_as(
        "admin",
        MASTER_USER_ID,
        "master",
        format!("master@{}", hosts.master()),
        MASTER_ACCOUNT_ID,
        MASTER_ACCOUNT_ID,
        "Master",
    );
    push_as(
        "admin",
        TENANT_ADMIN_ID,
        "admin",
        format!("admin@{}", hosts.tenant()),
        TENANT_ACCOUNT_ID,
        TENANT_ACCOUNT_ID,
        "Admin",
    );
    push_as(
        "admin",
        IMPERSONATION_ADMIN_ID,
        "3scaleadmin",
        format!("3scaleadmin+{}@3scale.net", hosts.tenant_admin()),
        TENANT_ACCOUNT_ID,
        TENANT_ACCOUNT_ID,
        "3scale",
    );
    for (id, login) in TENANT_MEMBERS {
        push_as(
            "member",
            *id,
            login,
            format!("{login}@example.com"),
            TENANT_ACCOUNT_ID,
            TENANT_ACCOUNT_ID,
            "Member",
        );
    }
    for (i, buyer) in model.buyers.iter().enumerate() {
        let login = format!("dev{:03}", i + 1);
        // Some developers sign up with an address on the installation's own domain.
        let email = if i % 3 == 2 {
            format!("{login}@{}", hosts.tenant())
        } else {
            format!("{login}@example.com")
        };
        push_as(
            "admin",
            buyer.user_id,
            &login,
            email,
            buyer.account_id,
            TENANT_ACCOUNT_ID,
            "Developer",
        );
    }
    rows
}

pub(super) fn settings(hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "settings",
        &[
            "id",
            "account_id",
            "created_at",
            "updated_at",
            "link_label",
            "link_url",
            "tenant_id",
            "multiple_applications_switch",
            "multiple_users_switch",
            "finance_switch",
            "multiple_services_switch",
            "groups_switch",
            "account_plans_switch",
            "service_plans_switch",
            "branding_switch",
            "cms_token",
            "sso_key",
            "sso_login_url",
            "web_hooks_switch",
        ],
    );
    for (id, account, link) in [
        (1, MASTER_ACCOUNT_ID, None),
        (
            2,
            TENANT_ACCOUNT_ID,
            s(format!("https://{}/docs", hosts.tenant())),
        ),
    ] {
        rows.push(vec![
            n(id),
            n(account),
            at(400),
            at(5),
            s("Documentation"),
            link,
            n(account),
            s("visible"),
            s("visible"),
            s("denied"),
            s("visible"),
            s("denied"),
            s("hidden"),
            s("hidden"),
            s("visible"),
            s(hex(0xc0, account as u64, 20)),
            s(hex(0x55, account as u64, 64)),
            None,
            s("visible"),
        ]);
    }
    rows
}

pub(super) fn provider_constraints(at: At) -> Rows {
    let mut rows = Rows::new(
        "provider_constraints",
        &[
            "id",
            "tenant_id",
            "provider_id",
            "max_users",
            "max_services",
            "created_at",
            "updated_at",
        ],
    );
    rows.push(vec![
        n(1),
        n(TENANT_ACCOUNT_ID),
        n(TENANT_ACCOUNT_ID),
        None,
        None,
        at(400),
        at(400),
    ]);
    rows
}

pub(super) fn access_tokens(values: &super::tokens::SeedTokens, at: At) -> Rows {
    let mut rows = Rows::new(
        "access_tokens",
        &[
            "id",
            "owner_id",
            "scopes",
            "value",
            "name",
            "permission",
            "tenant_id",
            "created_at",
            "updated_at",
        ],
    );
    // Serialized YAML arrays, as porta stores `scopes`.
    let tokens = [
        (
            1,
            MASTER_USER_ID,
            "APIcast",
            "ro",
            "---\n- account_management\n",
            MASTER_ACCOUNT_ID,
        ),
        (
            2,
            MASTER_USER_ID,
            "Master Token",
            "rw",
            "---\n- account_management\n",
            MASTER_ACCOUNT_ID,
        ),
        (
            3,
            TENANT_ADMIN_ID,
            "Administration",
            "rw",
            "---\n- account_management\n- stats\n- policy_registry\n",
            TENANT_ACCOUNT_ID,
        ),
        (
            4,
            TENANT_ADMIN_ID,
            "CI pipeline",
            "ro",
            "---\n- account_management\n",
            TENANT_ACCOUNT_ID,
        ),
    ];
    for (id, owner, name, permission, scopes, tenant) in tokens {
        rows.push(vec![
            n(id),
            n(owner),
            s(scopes),
            s(match id {
                1 => values.apicast.clone(),
                2 => values.master.clone(),
                3 => values.admin.clone(),
                _ => super::tokens::token_value(id as u64),
            }),
            s(name),
            s(permission),
            n(tenant),
            at(400),
            at(400),
        ]);
    }
    rows
}

pub(super) fn web_hooks(hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "web_hooks",
        &[
            "id",
            "account_id",
            "url",
            "account_created_on",
            "application_created_on",
            "application_updated_on",
            "created_at",
            "updated_at",
            "active",
            "tenant_id",
        ],
    );
    rows.push(vec![
        n(1),
        n(TENANT_ACCOUNT_ID),
        s(format!("https://crm-sync.{}/3scale/events", hosts.wildcard)),
        b(true),
        b(true),
        b(true),
        at(200),
        at(200),
        b(true),
        n(TENANT_ACCOUNT_ID),
    ]);
    rows
}
