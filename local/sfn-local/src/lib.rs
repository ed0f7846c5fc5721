//! `sfn-local`: a local AWS Step Functions engine.
//!
//! It runs Amazon States Language definitions (JSONPath query language)
//! unchanged, calls Lambda handlers in-process (or through a Lambda Invoke
//! API endpoint), runs `codebuild:startBuild.sync` buildspecs as local
//! processes, and serves the Step Functions API subset that `aws-sdk-sfn`
//! and the AWS CLI use. It knows nothing about the jobs that run on it.
//!
//! Layout: [`definition`] parses and validates; [`engine`] interprets, with
//! [`path`], [`payload`], [`intrinsics`], [`choice`] and [`context`] for
//! data processing; [`integrations`] runs Task states; [`service`] holds
//! state machines and executions; [`server`] speaks HTTP.

pub mod choice;
pub mod clock;
pub mod context;
pub mod definition;
pub mod engine;
pub mod error;
pub mod history;
pub mod integrations;
pub mod intrinsics;
pub mod limits;
pub mod path;
pub mod payload;
pub mod server;
pub mod service;

use std::path::Path as FsPath;
use std::sync::Arc;

pub use clock::{Clock, TokioClock};
pub use engine::{Engine, EngineConfig, Outcome};
pub use error::{SfnError, StatesError};
pub use integrations::TaskIntegration;
pub use integrations::codebuild::{BuildLogSink, CodeBuildIntegration, CodeBuildProject};
pub use integrations::lambda::{
    FunctionError, HttpLambdaInvoker, InProcessLambdas, LambdaFunction, LambdaIntegration,
    LambdaInvoker,
};
pub use service::{ServiceConfig, StepFunctions};

/// Assembles a [`StepFunctions`] service from its parts.
pub struct Builder {
    service: ServiceConfig,
    engine: EngineConfig,
    clock: Arc<dyn Clock>,
    lambda: Option<Arc<dyn LambdaInvoker>>,
    codebuild: Vec<CodeBuildProject>,
    build_logs: Option<Arc<dyn BuildLogSink>>,
    extra: Vec<Arc<dyn TaskIntegration>>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            service: ServiceConfig::default(),
            engine: EngineConfig::default(),
            clock: Arc::new(TokioClock::new()),
            lambda: None,
            codebuild: Vec::new(),
            build_logs: None,
            extra: Vec::new(),
        }
    }
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn region(mut self, region: &str) -> Self {
        self.service.region = region.to_string();
        self.engine.region = region.to_string();
        self
    }

    pub fn account_id(mut self, account: &str) -> Self {
        self.service.account_id = account.to_string();
        self
    }

    pub fn max_retained_executions(mut self, n: usize) -> Self {
        self.service.max_retained_executions = n;
        self
    }

    pub fn max_history_events(mut self, n: Option<usize>) -> Self {
        self.engine.max_history_events = n;
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where `lambda:invoke` and function ARNs go.
    pub fn lambda(mut self, invoker: Arc<dyn LambdaInvoker>) -> Self {
        self.lambda = Some(invoker);
        self
    }

    pub fn codebuild_project(mut self, project: CodeBuildProject) -> Self {
        self.codebuild.push(project);
        self
    }

    /// Where the CodeBuild projects' builds write their output as it comes
    /// (CloudWatch Logs, as CodeBuild does).
    pub fn codebuild_logs(mut self, sink: Arc<dyn BuildLogSink>) -> Self {
        self.build_logs = Some(sink);
        self
    }

    /// Adds another integration (tried after Lambda and CodeBuild).
    pub fn integration(mut self, integration: Arc<dyn TaskIntegration>) -> Self {
        self.extra.push(integration);
        self
    }

    pub fn build(self) -> StepFunctions {
        let mut integrations: Vec<Arc<dyn TaskIntegration>> = Vec::new();
        if let Some(l) = self.lambda {
            integrations.push(Arc::new(LambdaIntegration::new(l)));
        }
        if !self.codebuild.is_empty() {
            let mut codebuild = CodeBuildIntegration::new(
                self.codebuild,
                &self.service.region,
                &self.service.account_id,
                self.clock.clone(),
            );
            if let Some(sink) = self.build_logs {
                codebuild = codebuild.with_log_sink(sink);
            }
            integrations.push(Arc::new(codebuild));
        }
        integrations.extend(self.extra);
        let engine = Engine::new(integrations, self.clock, self.engine);
        StepFunctions::new(engine, self.service)
    }
}

/// Loads every `*.asl.json` in `dir` as a state machine named after the
/// file (`deploy_worker.asl.json` → `deploy_worker`). Answers the names.
pub fn load_definitions(
    service: &StepFunctions,
    dir: &FsPath,
    role_arn: &str,
) -> Result<Vec<String>, String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .collect();
    entries.sort();
    let mut names = Vec::new();
    for path in entries {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = file.trim_end_matches(".asl.json").to_string();
        let definition = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        service
            .create_state_machine(&serde_json::json!({
                "name": name, "definition": definition, "roleArn": role_arn
            }))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        names.push(name);
    }
    Ok(names)
}
