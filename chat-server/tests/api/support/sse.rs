//! Reading the SSE the chat server writes: (id, data) events and the AI SDK
//! parts inside them.
#![allow(dead_code)] // each test module uses part of it

use serde_json::Value;

/// (id, data) pairs of an SSE body, comments skipped.
pub fn events(body: &str) -> Vec<(Option<String>, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut id = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(v.to_owned());
                }
            }
            data.map(|d| (id, d))
        })
        .collect()
}

/// The protocol parts of `events` (every event but `[DONE]`).
pub fn parts(events: &[(Option<String>, String)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(_, d)| d != "[DONE]")
        .map(|(_, d)| serde_json::from_str(d).expect("json part"))
        .collect()
}

/// The streamed text of `parts`.
pub fn text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .filter_map(|p| p["delta"].as_str())
        .collect()
}

/// The part of the events received so far that forms whole events.
pub fn whole(seen: &str) -> &str {
    &seen[..seen.rfind("\n\n").map_or(0, |i| i + 2)]
}
