//! The subset of the 3scale system schema the migration touches, in PostgreSQL: table and column
//! names, types, defaults and the unique indexes of porta's `db/postgres_schema.rb`
//! (porta's `db/schema.rb`). Columns no step reads are left out; every `id` is a
//! `bigserial`, so each table has its `<table>_id_seq`, as Rails creates them.

pub(super) const TABLES: &[&str] = &[
    "accounts",
    "users",
    "settings",
    "provider_constraints",
    "services",
    "metrics",
    "plans",
    "usage_limits",
    "cinstances",
    "proxies",
    "proxy_configs",
    "backend_apis",
    "backend_api_configs",
    "api_docs_services",
    "authentication_providers",
    "access_tokens",
    "web_hooks",
];

pub(super) const DDL: &str = r#"
CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    org_name character varying(255) DEFAULT ''::character varying NOT NULL,
    org_legaladdress character varying(255) DEFAULT ''::character varying,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone,
    provider boolean DEFAULT false,
    buyer boolean DEFAULT false,
    country_id bigint,
    provider_account_id bigint,
    domain character varying(255),
    telephone_number character varying(255),
    site_access_code character varying(255),
    master boolean,
    state character varying(255),
    paid boolean DEFAULT false,
    timezone character varying(255),
    delta boolean DEFAULT true NOT NULL,
    from_email character varying(255),
    extra_fields text,
    default_account_plan_id bigint,
    default_service_id bigint,
    tenant_id bigint,
    self_domain character varying(255),
    s3_prefix character varying(255),
    sample_data boolean,
    support_email character varying(255),
    finance_support_email character varying(255),
    state_changed_at timestamp without time zone,
    first_admin_id bigint
);
CREATE UNIQUE INDEX index_accounts_on_domain ON accounts USING btree (domain);
CREATE UNIQUE INDEX index_accounts_on_self_domain ON accounts USING btree (self_domain);
CREATE UNIQUE INDEX index_accounts_on_master ON accounts USING btree (master);
CREATE INDEX index_accounts_on_provider_account_id ON accounts USING btree (provider_account_id);

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    username character varying(40),
    email character varying(255),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone,
    activated_at timestamp without time zone,
    state character varying(255),
    role character varying(255) DEFAULT ''::character varying,
    account_id bigint,
    first_name character varying(255),
    last_name character varying(255),
    signup_type character varying(255),
    last_login_at timestamp without time zone,
    extra_fields text,
    tenant_id bigint,
    password_digest character varying(255)
);
CREATE INDEX idx_users_account_id ON users USING btree (account_id);
CREATE INDEX index_users_on_email ON users USING btree (email);
CREATE INDEX index_users_on_login ON users USING btree (username);

CREATE TABLE settings (
    id bigserial PRIMARY KEY,
    account_id bigint,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    link_label character varying(255),
    link_url character varying(255),
    welcome_text text,
    forum_enabled boolean DEFAULT true,
    signups_enabled boolean DEFAULT true,
    documentation_enabled boolean DEFAULT true,
    token_api character varying(255) DEFAULT 'default'::character varying,
    change_account_plan_permission character varying(255) DEFAULT 'request'::character varying NOT NULL,
    change_service_plan_permission character varying(255) DEFAULT 'request'::character varying NOT NULL,
    can_create_service boolean DEFAULT false NOT NULL,
    spam_protection_level character varying(255) DEFAULT 'none'::character varying NOT NULL,
    tenant_id bigint,
    multiple_applications_switch character varying(255) NOT NULL,
    multiple_users_switch character varying(255) NOT NULL,
    finance_switch character varying(255) NOT NULL,
    multiple_services_switch character varying(255) NOT NULL,
    groups_switch character varying(255) NOT NULL,
    account_plans_switch character varying(255) NOT NULL,
    authentication_strategy character varying(255) DEFAULT 'oauth2'::character varying NOT NULL,
    service_plans_switch character varying(255) NOT NULL,
    public_search boolean DEFAULT false NOT NULL,
    product character varying(255) DEFAULT 'connect'::character varying NOT NULL,
    branding_switch character varying(255) NOT NULL,
    monthly_billing_enabled boolean DEFAULT true NOT NULL,
    cms_token character varying(255),
    cas_server_url character varying(255),
    sso_key character varying(256),
    sso_login_url character varying(255),
    web_hooks_switch character varying(255) DEFAULT 'denied'::character varying NOT NULL,
    iam_tools_switch character varying(255) DEFAULT 'denied'::character varying NOT NULL,
    require_cc_on_signup_switch character varying(255) DEFAULT 'denied'::character varying NOT NULL,
    enforce_sso boolean DEFAULT false NOT NULL
);
CREATE UNIQUE INDEX index_settings_on_account_id ON settings USING btree (account_id);

CREATE TABLE provider_constraints (
    id bigserial PRIMARY KEY,
    tenant_id bigint,
    provider_id bigint,
    max_users integer,
    max_services integer,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE UNIQUE INDEX index_provider_constraints_on_provider_id ON provider_constraints USING btree (provider_id);

CREATE TABLE services (
    id bigserial PRIMARY KEY,
    account_id bigint NOT NULL,
    name character varying(255) DEFAULT ''::character varying,
    description text,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    state character varying(255) NOT NULL,
    buyers_manage_apps boolean DEFAULT true,
    buyers_manage_keys boolean DEFAULT true,
    custom_keys_enabled boolean DEFAULT true,
    default_application_plan_id bigint,
    default_service_plan_id bigint,
    tenant_id bigint,
    system_name character varying(255) NOT NULL,
    backend_version character varying(255) DEFAULT '1'::character varying NOT NULL,
    mandatory_app_key boolean DEFAULT true,
    support_email character varying(255),
    referrer_filters_required boolean DEFAULT false,
    deployment_option character varying(255) DEFAULT 'hosted'::character varying,
    kubernetes_service_link character varying(255)
);
CREATE INDEX idx_account_id ON services USING btree (account_id);
CREATE UNIQUE INDEX index_services_on_system_name_and_account_id_and_deleted_at ON services USING btree (system_name, account_id);

CREATE TABLE metrics (
    id bigserial PRIMARY KEY,
    system_name character varying(255),
    description text,
    unit character varying(255),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone,
    service_id bigint,
    friendly_name character varying(255),
    parent_id bigint,
    tenant_id bigint,
    owner_id bigint,
    owner_type character varying
);
CREATE UNIQUE INDEX index_metrics_on_service_id_and_system_name ON metrics USING btree (service_id, system_name);

CREATE TABLE plans (
    id bigserial PRIMARY KEY,
    issuer_id bigint NOT NULL,
    name character varying(255),
    cost_per_month numeric(20,4) DEFAULT 0.0 NOT NULL,
    trial_period_days integer,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    "position" integer DEFAULT 0,
    state character varying(255) NOT NULL,
    cancellation_period integer DEFAULT 0 NOT NULL,
    cost_aggregation_rule character varying(255) DEFAULT 'sum'::character varying NOT NULL,
    setup_fee numeric(20,4) DEFAULT 0.0 NOT NULL,
    master boolean DEFAULT false,
    original_id bigint DEFAULT 0 NOT NULL,
    type character varying(255) NOT NULL,
    issuer_type character varying(255) NOT NULL,
    description text,
    approval_required boolean DEFAULT false NOT NULL,
    tenant_id bigint,
    system_name character varying(255) NOT NULL,
    partner_id bigint,
    contracts_count integer DEFAULT 0 NOT NULL
);
CREATE INDEX idx_plans_issuer_type_original ON plans USING btree (issuer_id, issuer_type, type, original_id);

CREATE TABLE usage_limits (
    id bigserial PRIMARY KEY,
    metric_id bigint,
    period character varying(255),
    value bigint,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    plan_id bigint,
    plan_type character varying(255) NOT NULL,
    tenant_id bigint
);
CREATE UNIQUE INDEX index_usage_limits_on_metric_id_and_plan_id_and_period ON usage_limits USING btree (metric_id, plan_id, period);

CREATE TABLE cinstances (
    id bigserial PRIMARY KEY,
    plan_id bigint NOT NULL,
    user_account_id bigint,
    user_key character varying(256),
    provider_public_key character varying(255),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone,
    state character varying(255) NOT NULL,
    description text,
    paid_until timestamp without time zone,
    application_id character varying(255),
    name character varying(255),
    trial_period_expires_at timestamp without time zone,
    setup_fee numeric(20,2) DEFAULT 0.0,
    type character varying(255) DEFAULT 'Cinstance'::character varying NOT NULL,
    redirect_url text,
    extra_fields text,
    tenant_id bigint,
    create_origin character varying(255),
    first_traffic_at timestamp without time zone,
    first_daily_traffic_at timestamp without time zone,
    service_id bigint,
    accepted_at timestamp without time zone
);
CREATE INDEX index_cinstances_on_application_id ON cinstances USING btree (application_id);
CREATE INDEX index_cinstances_on_user_key ON cinstances USING btree (user_key);
CREATE INDEX fk_ct_user_account_id ON cinstances USING btree (user_account_id);

CREATE TABLE proxies (
    id bigserial PRIMARY KEY,
    tenant_id bigint,
    service_id bigint,
    endpoint character varying(255),
    deployed_at timestamp without time zone,
    auth_app_key character varying(255) DEFAULT 'app_key'::character varying,
    auth_app_id character varying(255) DEFAULT 'app_id'::character varying,
    auth_user_key character varying(255) DEFAULT 'user_key'::character varying,
    credentials_location character varying(255) DEFAULT 'query'::character varying NOT NULL,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    secret_token character varying(255) NOT NULL,
    hostname_rewrite character varying(255),
    oauth_login_url character varying(255),
    sandbox_endpoint character varying(255),
    api_test_path character varying(8192),
    api_test_success boolean,
    apicast_configuration_driven boolean DEFAULT true NOT NULL,
    oidc_issuer_endpoint character varying(255),
    lock_version bigint DEFAULT 0 NOT NULL,
    authentication_method character varying(255),
    policies_config text,
    oidc_issuer_type character varying DEFAULT 'keycloak'::character varying,
    staging_domain character varying,
    production_domain character varying
);
CREATE INDEX index_proxies_on_service_id ON proxies USING btree (service_id);
CREATE INDEX index_proxies_on_staging_domain_and_production_domain ON proxies USING btree (staging_domain, production_domain);

CREATE TABLE proxy_configs (
    id bigserial PRIMARY KEY,
    proxy_id bigint NOT NULL REFERENCES proxies(id) ON DELETE CASCADE,
    user_id bigint,
    version integer DEFAULT 0 NOT NULL,
    tenant_id bigint,
    environment character varying(255) NOT NULL,
    content text NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    hosts character varying(8192)
);
CREATE INDEX index_proxy_configs_on_proxy_id_and_environment_and_version ON proxy_configs USING btree (proxy_id, environment, version);

CREATE TABLE backend_apis (
    id bigserial PRIMARY KEY,
    name character varying(511) NOT NULL,
    system_name character varying NOT NULL,
    description text,
    private_endpoint character varying,
    account_id bigint,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    tenant_id bigint,
    state character varying DEFAULT 'published'::character varying NOT NULL
);
CREATE UNIQUE INDEX index_backend_apis_on_account_id_and_system_name ON backend_apis USING btree (account_id, system_name);

CREATE TABLE backend_api_configs (
    id bigserial PRIMARY KEY,
    path character varying DEFAULT ''::character varying,
    service_id bigint,
    backend_api_id bigint,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    tenant_id bigint
);
CREATE UNIQUE INDEX index_backend_api_configs_on_backend_api_id_and_service_id ON backend_api_configs USING btree (backend_api_id, service_id);

CREATE TABLE api_docs_services (
    id bigserial PRIMARY KEY,
    account_id bigint,
    tenant_id bigint,
    name character varying(255),
    body text,
    description text,
    published boolean DEFAULT false,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    system_name character varying(255),
    base_path character varying(255),
    swagger_version character varying(255),
    skip_swagger_validations boolean DEFAULT false,
    service_id bigint REFERENCES services(id),
    discovered boolean
);

CREATE TABLE authentication_providers (
    id bigserial PRIMARY KEY,
    name character varying(255),
    system_name character varying(255),
    client_id character varying(255),
    client_secret character varying(255),
    token_url character varying(255),
    user_info_url character varying(255),
    authorize_url character varying(255),
    site character varying(255),
    account_id bigint,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    tenant_id bigint,
    identifier_key character varying(255) DEFAULT 'id'::character varying,
    username_key character varying(255) DEFAULT 'login'::character varying,
    trust_email boolean DEFAULT false,
    kind character varying(255),
    published boolean DEFAULT false,
    branding_state character varying(255),
    type character varying(255),
    skip_ssl_certificate_verification boolean DEFAULT false,
    account_type character varying(255) DEFAULT 'developer'::character varying NOT NULL,
    automatically_approve_accounts boolean DEFAULT false
);
CREATE UNIQUE INDEX index_authentication_providers_on_account_id_and_system_name ON authentication_providers USING btree (account_id, system_name);

CREATE TABLE access_tokens (
    id bigserial PRIMARY KEY,
    owner_id bigint NOT NULL,
    scopes text,
    value character varying(255) NOT NULL,
    name character varying(255) NOT NULL,
    permission character varying(255) NOT NULL,
    tenant_id bigint,
    created_at timestamp without time zone,
    updated_at timestamp without time zone
);

CREATE TABLE web_hooks (
    id bigserial PRIMARY KEY,
    account_id bigint,
    url character varying(255),
    account_created_on boolean DEFAULT false,
    account_updated_on boolean DEFAULT false,
    user_created_on boolean DEFAULT false,
    application_created_on boolean DEFAULT false,
    application_updated_on boolean DEFAULT false,
    application_deleted_on boolean DEFAULT false,
    created_at timestamp without time zone,
    updated_at timestamp without time zone,
    provider_actions boolean DEFAULT false,
    application_plan_changed_on boolean DEFAULT false,
    active boolean DEFAULT false,
    tenant_id bigint,
    push_application_content_type boolean DEFAULT true
);
"#;
