//! Rows of the products: services, metrics, plans, limits and applications (cinstances).

use super::super::copy::{Rows, n, s};
use super::super::model::{
    MASTER_ACCOUNT_ID, MASTER_SERVICE_ID, Model, TENANT_ACCOUNT_ID, TENANT_NAME, hex,
};
use super::hosts::{At, Hosts};

pub(super) fn services(model: &Model, at: At) -> Rows {
    let mut rows = Rows::new(
        "services",
        &[
            "id",
            "account_id",
            "name",
            "description",
            "created_at",
            "updated_at",
            "state",
            "default_application_plan_id",
            "default_service_plan_id",
            "tenant_id",
            "system_name",
            "backend_version",
            "deployment_option",
        ],
    );
    rows.push(vec![
        n(MASTER_SERVICE_ID),
        n(MASTER_ACCOUNT_ID),
        s("Master Service"),
        None,
        at(400),
        at(400),
        s("incomplete"),
        n(model.master_plan_id),
        n(model.master_service_plan_id),
        n(MASTER_ACCOUNT_ID),
        s("master_service"),
        s("1"),
        s("hosted"),
    ]);
    for svc in &model.services {
        rows.push(vec![
            n(svc.id),
            n(TENANT_ACCOUNT_ID),
            s(&svc.name),
            s(format!("The {} product", svc.name)),
            at(350),
            at(10),
            s("incomplete"),
            svc.plans.first().map(|p| p.id.to_string()),
            n(svc.service_plan_id),
            n(TENANT_ACCOUNT_ID),
            s(&svc.system_name),
            s(svc.backend_version),
            s("hosted"),
        ]);
    }
    rows
}

pub(super) fn metrics(model: &Model, at: At) -> Rows {
    let mut rows = Rows::new(
        "metrics",
        &[
            "id",
            "system_name",
            "unit",
            "created_at",
            "updated_at",
            "service_id",
            "friendly_name",
            "parent_id",
            "tenant_id",
            "owner_id",
            "owner_type",
        ],
    );
    rows.push(vec![
        n(model.master_hits_metric_id),
        s("hits"),
        s("hit"),
        at(400),
        at(400),
        n(MASTER_SERVICE_ID),
        s("Hits"),
        None,
        n(MASTER_ACCOUNT_ID),
        n(MASTER_SERVICE_ID),
        s("Service"),
    ]);
    for svc in &model.services {
        for metric in &svc.metrics {
            rows.push(vec![
                n(metric.id),
                s(metric.system_name),
                s("hit"),
                at(350),
                at(350),
                n(svc.id),
                s(metric.system_name.replace('_', " ")),
                metric.parent_id.map(|p| p.to_string()),
                n(TENANT_ACCOUNT_ID),
                n(svc.id),
                s("Service"),
            ]);
        }
    }
    rows
}

pub(super) fn plans(model: &Model, at: At) -> Rows {
    let mut rows = Rows::new(
        "plans",
        &[
            "id",
            "issuer_id",
            "name",
            "created_at",
            "updated_at",
            "state",
            "type",
            "issuer_type",
            "tenant_id",
            "system_name",
            "contracts_count",
        ],
    );
    let mut push = |id: i64,
                    issuer: i64,
                    name: &str,
                    kind: &str,
                    issuer_type: &str,
                    tenant: i64,
                    system_name: &str,
                    contracts: usize| {
        rows.push(vec![
            n(id),
            n(issuer),
            s(name),
            at(400),
            at(30),
            s("published"),
            s(kind),
            s(issuer_type),
            n(tenant),
            s(system_name),
            n(i64::try_from(contracts).unwrap_or(0)),
        ]);
    };
    push(
        model.master_plan_id,
        MASTER_SERVICE_ID,
        "enterprise",
        "ApplicationPlan",
        "Service",
        MASTER_ACCOUNT_ID,
        "enterprise",
        1,
    );
    push(
        model.master_own_plan_id,
        MASTER_SERVICE_ID,
        "Master Plan",
        "ApplicationPlan",
        "Service",
        MASTER_ACCOUNT_ID,
        "master_plan",
        1,
    );
    push(
        model.master_account_plan_id,
        MASTER_ACCOUNT_ID,
        "Default",
        "AccountPlan",
        "Account",
        MASTER_ACCOUNT_ID,
        "default",
        1,
    );
    push(
        model.master_service_plan_id,
        MASTER_SERVICE_ID,
        "Default",
        "ServicePlan",
        "Service",
        MASTER_ACCOUNT_ID,
        "default",
        0,
    );
    push(
        model.tenant_account_plan_id,
        TENANT_ACCOUNT_ID,
        "Default",
        "AccountPlan",
        "Account",
        TENANT_ACCOUNT_ID,
        "default",
        model.buyers.len(),
    );
    for svc in &model.services {
        push(
            svc.service_plan_id,
            svc.id,
            "Default",
            "ServicePlan",
            "Service",
            TENANT_ACCOUNT_ID,
            "default",
            0,
        );
        for plan in &svc.plans {
            let contracts = svc.apps.iter().filter(|a| a.plan_id == plan.id).count();
            push(
                plan.id,
                svc.id,
                plan.name,
                "ApplicationPlan",
                "Service",
                TENANT_ACCOUNT_ID,
                plan.system_name,
                contracts,
            );
        }
    }
    rows
}

pub(super) fn usage_limits(model: &Model, at: At) -> Rows {
    let mut rows = Rows::new(
        "usage_limits",
        &[
            "id",
            "metric_id",
            "period",
            "value",
            "created_at",
            "updated_at",
            "plan_id",
            "plan_type",
            "tenant_id",
        ],
    );
    let mut id = 0;
    for plan in model.services.iter().flat_map(|svc| &svc.plans) {
        for (metric, period, value) in &plan.limits {
            id += 1;
            rows.push(vec![
                n(id),
                n(*metric),
                s(*period),
                n(*value),
                at(300),
                at(300),
                n(plan.id),
                s("ApplicationPlan"),
                n(TENANT_ACCOUNT_ID),
            ]);
        }
    }
    rows
}

pub(super) fn cinstances(model: &Model, hosts: &Hosts, at: At) -> Rows {
    let mut rows = Rows::new(
        "cinstances",
        &[
            "id",
            "plan_id",
            "user_account_id",
            "user_key",
            "created_at",
            "updated_at",
            "state",
            "description",
            "application_id",
            "name",
            "type",
            "redirect_url",
            "tenant_id",
            "create_origin",
            "first_traffic_at",
            "service_id",
            "accepted_at",
        ],
    );
    rows.push(vec![
        n(model.provider_cinstance_id),
        n(model.master_plan_id),
        n(TENANT_ACCOUNT_ID),
        s(&model.provider_key),
        at(400),
        at(400),
        s("live"),
        s("Default application"),
        s(hex(0xa9, 0, 8)),
        s(TENANT_NAME),
        s("Cinstance"),
        None,
        n(MASTER_ACCOUNT_ID),
        None,
        at(399),
        n(MASTER_SERVICE_ID),
        at(400),
    ]);
    // porta's db:seed contracts the master account with "Master Plan" on its own service.
    rows.push(vec![
        n(model.master_cinstance_id),
        n(model.master_own_plan_id),
        n(MASTER_ACCOUNT_ID),
        s(hex(0x6d_61_73, 0, 32)),
        at(400),
        at(400),
        s("live"),
        s("Default application"),
        s(hex(0xa9, 1, 8)),
        s("Master Account"),
        s("Cinstance"),
        None,
        n(MASTER_ACCOUNT_ID),
        None,
        None,
        n(MASTER_SERVICE_ID),
        at(400),
    ]);
    for svc in &model.services {
        for (i, app) in svc.apps.iter().enumerate() {
            // OAuth-style applications carry a callback URL, some on the wildcard domain.
            let redirect = match i % 4 {
                1 => s(format!(
                    "https://dev{:03}.{}/callback",
                    i + 1,
                    hosts.tenant()
                )),
                3 => s("https://app.example.com/oauth/callback"),
                _ => None,
            };
            rows.push(vec![
                n(app.id),
                n(app.plan_id),
                n(app.buyer_account_id),
                s(&app.user_key),
                at(200),
                at(20),
                s(app.state),
                s(format!("Application {} of {}", i + 1, svc.name)),
                s(&app.application_id),
                s(format!("{} app {}", svc.system_name, i + 1)),
                s("Cinstance"),
                redirect,
                n(TENANT_ACCOUNT_ID),
                s("api"),
                at(199),
                n(svc.id),
                at(200),
            ]);
        }
    }
    rows
}
