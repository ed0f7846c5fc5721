//! Execution history: the events a person follows a run by, with AWS's
//! event type names and detail shapes (API reference, `HistoryEvent`).

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// One history event. `details` is stored under `details_key`
/// (e.g. `stateEnteredEventDetails`) when serialised.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp: DateTime<Utc>,
    pub event_type: &'static str,
    pub details: Option<(&'static str, Value)>,
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
            let mut details = details.clone();
            if !include_data && let Value::Object(map) = &mut details {
                for field in ["input", "output", "parameters"] {
                    map.remove(field);
                }
            }
            obj.insert((*key).into(), details);
        }
        Value::Object(obj)
    }

    /// A detail string field (e.g. "name", "error"), for tests and tools.
    pub fn detail(&self, field: &str) -> Option<&str> {
        self.details
            .as_ref()
            .and_then(|(_, d)| d.get(field))
            .and_then(Value::as_str)
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
        details: Option<(&'static str, Value)>,
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

/// `{"input": text, "inputDetails": {"truncated": false}}`-style details.
pub fn data_details(name: Option<&str>, field: &str, text: String) -> Value {
    let mut obj = Map::new();
    if let Some(n) = name {
        obj.insert("name".into(), json!(n));
    }
    obj.insert(field.into(), Value::String(text));
    obj.insert(format!("{field}Details"), json!({"truncated": false}));
    Value::Object(obj)
}
