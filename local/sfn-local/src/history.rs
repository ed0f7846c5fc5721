//! Execution history: the events a person follows a run by, with AWS's
//! event type names and detail shapes (API reference, `HistoryEvent`).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// The details of one event, as stored. Most events of a run carry a
/// state's input or output text; those are kept as [`Details::Data`] (the
/// text shared with the next state's entered event, no JSON object built)
/// and rendered to AWS's shape only when the history is read. This keeps
/// the history small and cheap to record (memory stays bounded by the
/// retained history).
#[derive(Debug, Clone)]
pub enum Details {
    /// `{"name"?: …, <field>: text, "<field>Details": {"truncated": false}}`.
    Data {
        name: Option<Arc<str>>,
        field: &'static str,
        text: Arc<str>,
    },
    /// Any other detail object.
    Json(Value),
}

impl From<Value> for Details {
    fn from(v: Value) -> Self {
        Details::Json(v)
    }
}

impl Details {
    /// The detail object in AWS's shape. Without `include_data` the
    /// `input`, `output` and `parameters` fields are left out
    /// (GetExecutionHistory `includeExecutionData`).
    pub fn to_value(&self, include_data: bool) -> Value {
        match self {
            Details::Data { name, field, text } => {
                let mut obj = Map::new();
                if let Some(n) = name {
                    obj.insert("name".into(), Value::String(n.to_string()));
                }
                if include_data {
                    obj.insert((*field).into(), Value::String(text.to_string()));
                }
                obj.insert(format!("{field}Details"), json!({"truncated": false}));
                Value::Object(obj)
            }
            Details::Json(v) => {
                let mut v = v.clone();
                if !include_data && let Value::Object(map) = &mut v {
                    for field in ["input", "output", "parameters"] {
                        map.remove(field);
                    }
                }
                v
            }
        }
    }

    /// A string field of the details (e.g. "name", "input", "error").
    pub fn get_str(&self, wanted: &str) -> Option<&str> {
        match self {
            Details::Data { name, field, text } => match wanted {
                "name" => name.as_deref(),
                f if f == *field => Some(text),
                _ => None,
            },
            Details::Json(v) => v.get(wanted).and_then(Value::as_str),
        }
    }
}

/// One history event. `details` is stored under its key (e.g.
/// `stateEnteredEventDetails`) when serialised.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub event_type: &'static str,
    pub details: Option<(&'static str, Details)>,
}

impl HistoryEvent {
    /// The awsJson1_0 shape: timestamps are epoch seconds.
    pub fn to_json(&self, include_data: bool) -> Value {
        let mut obj = Map::new();
        obj.insert("timestamp".into(), json!(epoch_seconds(&self.timestamp)));
        obj.insert("type".into(), json!(self.event_type));
        obj.insert("id".into(), json!(self.id));
        obj.insert("previousEventId".into(), json!(self.previous_event_id));
        if let Some((key, details)) = &self.details {
            obj.insert((*key).into(), details.to_value(include_data));
        }
        Value::Object(obj)
    }

    /// A detail string field (e.g. "name", "error"), for tests and tools.
    pub fn detail(&self, field: &str) -> Option<&str> {
        self.details.as_ref().and_then(|(_, d)| d.get_str(field))
    }

    /// The details object in AWS's shape (with the execution data).
    pub fn details_json(&self) -> Option<Value> {
        self.details.as_ref().map(|(_, d)| d.to_value(true))
    }
}

/// Epoch seconds with millisecond precision, as the AWS JSON protocols send
/// timestamps.
pub fn epoch_seconds(t: &DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// The append-only event list of one execution.
#[derive(Debug, Default)]
pub struct History {
    events: Mutex<Vec<HistoryEvent>>,
}

impl History {
    pub fn new() -> Self {
        History::default()
    }

    /// Appends an event and returns its id (ids start at 1).
    pub fn push(
        &self,
        previous_event_id: u64,
        timestamp: DateTime<Utc>,
        event_type: &'static str,
        details: Option<(&'static str, Details)>,
    ) -> u64 {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let id = events.len() as u64 + 1;
        events.push(HistoryEvent {
            id,
            previous_event_id,
            timestamp,
            event_type,
            details,
        });
        id
    }

    pub fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the events (for the API and tests).
    pub fn snapshot(&self) -> Vec<HistoryEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A page of events in order (or reversed).
    pub fn page(&self, start: usize, max: usize, reverse: bool) -> (Vec<HistoryEvent>, bool) {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let total = events.len();
        let iter: Box<dyn Iterator<Item = &HistoryEvent>> = if reverse {
            Box::new(events.iter().rev())
        } else {
            Box::new(events.iter())
        };
        let page: Vec<HistoryEvent> = iter.skip(start).take(max).cloned().collect();
        let more = start + page.len() < total;
        (page, more)
    }
}

/// `{"name": …, "input": text, "inputDetails": {"truncated": false}}`-style
/// details.
pub fn data_details(name: Option<&Arc<str>>, field: &'static str, text: Arc<str>) -> Details {
    Details::Data {
        name: name.cloned(),
        field,
        text,
    }
}
