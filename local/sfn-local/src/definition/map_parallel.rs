//! Parallel and Map state checks (specification "Parallel State" and "Map
//! State"): branches and item processors are nested blocks validated like
//! the top level; Map's ItemsPath, processor spellings (ItemProcessor or the
//! older Iterator), INLINE mode only, and concurrency and tolerance limits.

use serde_json::{Map, Value};

use super::model::{Kind, MapSpec};
use super::validate::Validator;
use crate::choice::PathRef;
use crate::path::Path;

impl Validator {
    pub(super) fn parallel(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let mut branches = Vec::new();
        match obj.get("Branches").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for (i, b) in list.iter().enumerate() {
                    let bat = format!("{at}/Branches[{i}]");
                    match b.as_object() {
                        Some(bo) => {
                            for key in bo.keys() {
                                if !matches!(key.as_str(), "StartAt" | "States" | "Comment") {
                                    self.unknown_field(key, &format!("{bat}/"));
                                }
                            }
                            if let Some(block) = self.block(bo, &bat) {
                                branches.push(block);
                            }
                        }
                        None => self.problem(
                            "SCHEMA_VALIDATION_FAILED",
                            "a branch must be an object",
                            &bat,
                        ),
                    }
                }
            }
            _ => self.problem(
                "SCHEMA_VALIDATION_FAILED",
                "Branches is required and must be a non-empty array",
                &format!("{at}/Branches"),
            ),
        }
        Kind::Parallel { branches }
    }

    pub(super) fn map(&mut self, obj: &Map<String, Value>, at: &str) -> Kind {
        let items_path = match obj.get("ItemsPath") {
            None => PathRef::Input(Path::root()),
            Some(v) => self
                .path_ref(v, true, &format!("{at}/ItemsPath"))
                .unwrap_or(PathRef::Input(Path::root())),
        };
        let (processor_key, processor) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(_), Some(_)) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "use either ItemProcessor or Iterator, not both",
                    at,
                );
                ("ItemProcessor", None)
            }
            (Some(p), None) => ("ItemProcessor", Some(p)),
            (None, Some(p)) => ("Iterator", Some(p)),
            (None, None) => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    "a Map state needs an ItemProcessor",
                    at,
                );
                ("ItemProcessor", None)
            }
        };
        let pat = format!("{at}/{processor_key}");
        let block = processor.and_then(|p| match p.as_object() {
            Some(po) => {
                for key in po.keys() {
                    match key.as_str() {
                        "StartAt" | "States" | "Comment" => {}
                        "ProcessorConfig" => {
                            let mode = po["ProcessorConfig"].get("Mode").and_then(Value::as_str);
                            if !matches!(mode, None | Some("INLINE")) {
                                self.problem(
                                    "UNSUPPORTED_FEATURE",
                                    "only the INLINE processing mode is supported by sfn-local",
                                    &format!("{pat}/ProcessorConfig/Mode"),
                                );
                            }
                        }
                        other => self.unknown_field(other, &format!("{pat}/")),
                    }
                }
                self.block(po, &pat)
            }
            None => {
                self.problem(
                    "SCHEMA_VALIDATION_FAILED",
                    format!("{processor_key} must be an object"),
                    &pat,
                );
                None
            }
        });
        let max_concurrency = self.count(obj, "MaxConcurrency", 2_147_483_647.0, at);
        let tolerated_count = self.count(obj, "ToleratedFailureCount", 2_147_483_647.0, at);
        let tolerated_percentage = self.count(obj, "ToleratedFailurePercentage", 100.0, at);
        match block {
            Some(processor) => Kind::Map(Box::new(MapSpec {
                items_path,
                processor,
                max_concurrency,
                tolerated_count,
                tolerated_percentage,
            })),
            None => Kind::Succeed,
        }
    }
}
