//! The vocabulary of a runbook: one type per concept (ARCHITECTURE.md, "Words").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An enum whose values have one kebab-case name each, used in the config, on the
/// command line, in the journal and in JSON output. Parsing an unknown name gives
/// an error that lists the allowed names.
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const WHAT: &'static str = $what;

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: $what,
                        given: s.to_string(),
                        allowed: vec![$($text),+],
                    }),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A name that is not one of the allowed values; the message lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub what: &'static str,
    pub given: String,
    pub allowed: Vec<&'static str>,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} `{}`; allowed: {}",
            self.what,
            self.given,
            self.allowed.join(", ")
        )
    }
}

impl std::error::Error for UnknownName {}

named_enum! {
    /// Which runbook a migration follows.
    pub enum RunbookId ("runbook") {
        ThreescaleRhoam => "threescale-rhoam",
        VeleroRegistry => "velero-registry",
    }
}

named_enum! {
    /// How much of the customer's AWS account the provider's engineers may reach
    /// (seed 000); `cluster-admin` is the single path of the Velero runbook.
    pub enum AccessPath ("access path") {
        Limited => "limited",
        FurtherLimited => "further-limited",
        NoAccess => "no-access",
        ClusterAdmin => "cluster-admin",
    }
}

named_enum! {
    /// Who does a step. The operator is `red-hat` or `customer`; a step owned by
    /// `both` is done by whichever party runs the wizard.
    pub enum Party ("party") {
        RedHat => "red-hat",
        Customer => "customer",
        Both => "both",
    }
}

named_enum! {
    /// What a step is: an action that changes something, a verification that changes
    /// nothing, or work the operator does by hand from the shown procedure.
    pub enum StepKind ("step kind") {
        Automated => "automated",
        Check => "check",
        Manual => "manual",
    }
}

named_enum! {
    /// The kind of database behind 3scale's system database.
    pub enum DbKind ("database kind") {
        Postgresql => "postgresql",
        Mysql => "mysql",
        Oracle => "oracle",
    }
}

impl Party {
    /// Whether an operator of party `me` does a step owned by `self` themselves.
    pub fn includes(self, me: Party) -> bool {
        self == Party::Both || me == Party::Both || self == me
    }

    /// The name shown to people: "Red Hat", "Customer", "Red Hat / Customer".
    pub fn label(self) -> &'static str {
        match self {
            Party::RedHat => "Red Hat",
            Party::Customer => "Customer",
            Party::Both => "Red Hat / Customer",
        }
    }
}

/// What a step needs from the operator before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Runs without asking.
    None,
    /// The operator answers yes.
    Confirm,
    /// The operator types this exact phrase; every destructive step has one (this or the next).
    Typed(&'static str),
    /// The operator says yes to start; the step then computes and shows what it would change,
    /// and asks for this exact phrase before it changes anything.
    Previewed(&'static str),
}

impl Gate {
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::None => "none",
            Gate::Confirm => "confirm",
            Gate::Typed(_) => "typed",
            Gate::Previewed(_) => "typed-after-preview",
        }
    }

    /// The phrase of a typed gate.
    pub fn phrase(self) -> Option<&'static str> {
        match self {
            Gate::Typed(p) | Gate::Previewed(p) => Some(p),
            _ => None,
        }
    }
}

/// What a step needs from the operator before it runs (from its gate, its kind and its owner;
/// see `plan`), as the journal records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// A yes.
    Confirm,
    /// The exact phrase of a typed gate.
    Typed,
    /// Confirmation that the operator did a manual step by hand.
    Manual,
    /// Confirmation that the other party did its step.
    HandOff,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Confirm => "confirm",
            Need::Typed => "typed",
            Need::Manual => "manual",
            Need::HandOff => "hand-off",
        }
    }
}

/// How an attempt of a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed,
    /// The step had nothing to do in this migration (e.g. no Redis configured).
    NotApplicable,
    /// The step ended early because the operator paused or quit while it asked a
    /// question (e.g. whether to accept the loss of queued jobs); it runs again on
    /// resume.
    Stopped,
}

/// A step's stable id (kebab-case): the key of the journal and of `--confirm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StepId(pub &'static str);

impl AsRef<str> for StepId {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The actions cutover can automate. A step names one (data); `steps/` implements
/// each behind one trait. A step whose action is not implemented yet runs as manual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    CheckRedis,
    CheckPostgresql,
    CheckMysql,
    CheckDumpTools,
    CheckDiskSpace,
    CheckKubeconfigs,
    CheckClusterAccess,
    Inventory,
    StopTraffic,
    DrainQueues,
    ScaleDown,
    DumpSystemDatabase,
    DumpZyncDatabase,
    DumpRedis,
    DumpSecrets,
    ConvertSystemDatabase,
    RestoreSystemDatabase,
    CheckSourceThreescale,
    UpgradeThreescale,
    RewriteRoutes,
    ConnectMigration3scale,
    DumpMigrationDatabase,
    PauseDestination,
    SeedDestinationDatabase,
    RestoreBackendRedis,
    VerifyBackendRedis,
    PushSecrets,
    ClearFreshInstall,
    CheckRhoamUsers,
    StartDestination,
    CheckMasterPlan,
    CheckMasterAccess,
    CheckDefaultTenant,
    CheckSsoIntegrations,
    VerifyInstallation,
    CheckPlatformInstalled,
    CheckPlatformVersions,
    CheckKeycloak,
    CheckVelero,
    CheckTargetClean,
    VeleroBackup,
    TransferBackup,
    VeleroWaitSynced,
    KeycloakExport,
    KeycloakImport,
    VeleroRestore,
    RegistryPostFixes,
    VeleroVerify,
}

named_enum! {
    /// Which of the three clusters a placeholder or an action refers to.
    pub enum ClusterRole ("cluster") {
        Source => "source",
        MigrationCluster => "migration_cluster",
        Destination => "destination",
    }
}

/// When a step is part of a migration, decided from the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// Only when the source system database is one of these kinds. When the config
    /// does not say which kind it is, the step is kept and marked conditional.
    SourceDbIs(&'static [DbKind]),
}

/// A step of a runbook.
#[derive(Debug)]
pub struct Step {
    pub id: StepId,
    pub title: &'static str,
    /// The id of the phase this step belongs to.
    pub phase: &'static str,
    pub kind: StepKind,
    pub destructive: bool,
    pub gate: Gate,
    /// The owner on each access path the step is part of; a path that is not listed
    /// does not have this step.
    pub owners: &'static [(AccessPath, Party)],
    /// The exact text of the seed table row this step implements.
    pub seed: Option<&'static str>,
    /// What the step does and why, and where the seed's table is silent on the owner,
    /// which part of the seed decided it; may carry placeholders (see `procedure`).
    pub doc: &'static str,
    /// For a destructive step: what it changes, with placeholders (see `procedure`).
    pub changes: Option<&'static str>,
    /// The manual procedure: the commands an operator runs by hand, with placeholders.
    pub procedure: &'static str,
    pub action: Option<Action>,
    pub when: When,
}

impl Step {
    /// The owner of this step on `path`, or None when the path does not have it.
    pub fn owner(&self, path: AccessPath) -> Option<Party> {
        self.owners
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, o)| *o)
    }
}

/// A group of steps.
#[derive(Debug)]
pub struct Phase {
    pub id: &'static str,
    pub title: &'static str,
}

/// How a runbook rolls the source back while the run holds (`R` in the wizard, `cutover
/// rollback`). The engine runs it and journals it; `steps::rollback_of` holds its implementation.
#[derive(Debug)]
pub struct Rollback {
    /// What the operator types to roll back.
    pub phrase: &'static str,
    /// What a rollback does, for the prompt that asks for the phrase.
    pub doc: &'static str,
    /// The step after which the destination has taken over: once it has been confirmed, started,
    /// done or skipped, a rollback is refused, since it would lose what was written there.
    pub takeover_step: StepId,
    /// What it means once `takeover_step` is under way, for the refusal: "the customer's systems
    /// point at the destination".
    pub taken_over: &'static str,
    /// What the operator can still do by hand when a rollback is refused, for the refusal.
    pub by_hand: &'static str,
    /// The first step a rollback undoes: it and every later step of the plan that is not pending
    /// are to be done again after it.
    pub first_undone: StepId,
}

/// The ordered steps of one kind of migration.
#[derive(Debug)]
pub struct Runbook {
    pub id: RunbookId,
    pub title: &'static str,
    /// The name of the seed document this runbook was written from, for the record.
    pub seed_document: &'static str,
    pub paths: &'static [AccessPath],
    pub phases: &'static [Phase],
    pub steps: &'static [Step],
    /// What the operator must know before starting (scope, limits), shown by `plan`.
    pub notes: &'static [&'static str],
    /// What both parties must have agreed and granted before the migration starts,
    /// per access path: the checklist of the prerequisites step.
    pub checklists: &'static [(AccessPath, &'static [&'static str])],
    /// How the source is rolled back, if this runbook can.
    pub rollback: Option<Rollback>,
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&'static Step> {
        // `steps` is 'static, so the reference can outlive `self`.
        let steps: &'static [Step] = self.steps;
        steps.iter().find(|s| s.id.0 == id)
    }

    pub fn phase(&self, id: &str) -> Option<&'static Phase> {
        let phases: &'static [Phase] = self.phases;
        phases.iter().find(|p| p.id == id)
    }

    pub fn checklist(&self, path: AccessPath) -> &'static [&'static str] {
        self.checklists
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, c)| *c)
            .unwrap_or(&[])
    }

    /// The steps that are part of `path`, in order.
    pub fn steps_on(&self, path: AccessPath) -> impl Iterator<Item = &'static Step> {
        let steps: &'static [Step] = self.steps;
        steps.iter().filter(move |s| s.owner(path).is_some())
    }
}
