//! What a conversation used: its runs' input and output tokens, by model,
//! and an estimated cost from a price table (list prices per million
//! tokens of the models MAS knows, overridable and extendable with
//! `PRICE_TABLE`). A run that reported no tokens is counted as a run, never
//! as 0 tokens; a model without a price has no cost, not a cost of 0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::RunRecord;

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// List prices (USD per million tokens) as the vendors published them in
/// 2026; a dated model version takes the price of its name's prefix.
const KNOWN: &[(&str, f64, f64)] = &[
    ("offline/", 0.0, 0.0),
    ("openai/gpt-4o-mini", 0.15, 0.60),
    ("openai/gpt-4o", 2.50, 10.00),
    ("openai/gpt-4.1-nano", 0.10, 0.40),
    ("openai/gpt-4.1-mini", 0.40, 1.60),
    ("openai/gpt-4.1", 2.00, 8.00),
    ("openai/gpt-5-mini", 0.25, 2.00),
    ("openai/gpt-5", 1.25, 10.00),
    ("anthropic/claude-3-5-haiku", 0.80, 4.00),
    ("anthropic/claude-haiku-4", 1.00, 5.00),
    ("anthropic/claude-sonnet-4", 3.00, 15.00),
    ("anthropic/claude-opus-4", 15.00, 75.00),
    ("gemini/gemini-2.0-flash", 0.10, 0.40),
    ("gemini/gemini-2.5-flash-lite", 0.10, 0.40),
    ("gemini/gemini-2.5-flash", 0.30, 2.50),
    ("gemini/gemini-2.5-pro", 1.25, 10.00),
];

/// Prices by `provider/model` prefix, the longest matching prefix winning.
#[derive(Debug, Clone)]
pub struct Prices(BTreeMap<String, Price>);

impl Default for Prices {
    fn default() -> Self {
        Prices(
            KNOWN
                .iter()
                .map(|(key, input, output)| {
                    (
                        (*key).to_owned(),
                        Price {
                            input: *input,
                            output: *output,
                        },
                    )
                })
                .collect(),
        )
    }
}

impl Prices {
    /// The known prices with `overrides` (`PRICE_TABLE`: keys
    /// `provider/model`, or a prefix of one) over them; a price below 0, or
    /// not a number, is an error.
    pub fn with(overrides: &BTreeMap<String, Price>) -> Result<Self, String> {
        let mut prices = Prices::default();
        for (key, price) in overrides {
            if !key.contains('/') {
                return Err(format!(
                    "PRICE_TABLE key {key:?} must be provider/model (e.g. openai/gpt-4o)"
                ));
            }
            if !(price.input.is_finite()
                && price.output.is_finite()
                && price.input >= 0.0
                && price.output >= 0.0)
            {
                return Err(format!(
                    "PRICE_TABLE price of {key:?} must be 0 or more dollars per million tokens"
                ));
            }
            prices.0.insert(key.to_lowercase(), *price);
        }
        Ok(prices)
    }

    /// The price of `model` of `provider`, if one is known.
    pub fn of(&self, provider: &str, model: &str) -> Option<Price> {
        let key = format!("{provider}/{model}").to_lowercase();
        self.0
            .range(..=key.clone())
            .rev()
            .find(|(prefix, _)| key.starts_with(prefix.as_str()))
            .map(|(_, price)| *price)
    }
}

/// What the runs of one provider and model used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    pub runs: i64,
    /// Runs that reported their tokens (the totals are over these).
    pub runs_with_tokens: i64,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// `None` when the model has no price, or no run reported tokens.
    pub cost_usd: Option<f64>,
}

/// A conversation's totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub runs: i64,
    pub runs_with_tokens: i64,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// Over the models with a price; `None` when none has one.
    pub cost_usd: Option<f64>,
    /// Runs whose tokens are not in the cost (no price for their model).
    pub unpriced_runs: i64,
    pub by_model: Vec<ModelUsage>,
}

fn add(total: Option<i64>, more: Option<i64>) -> Option<i64> {
    match (total, more) {
        (None, more) => more,
        (total, None) => total,
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
    }
}

/// The totals of `runs` priced by `prices`.
pub fn usage(runs: &[RunRecord], prices: &Prices) -> Usage {
    let mut by_model: Vec<ModelUsage> = Vec::new();
    for run in runs {
        let i = match by_model
            .iter()
            .position(|m| m.provider == run.provider && m.model == run.model)
        {
            Some(i) => i,
            None => {
                by_model.push(ModelUsage {
                    provider: run.provider.clone(),
                    model: run.model.clone(),
                    runs: 0,
                    runs_with_tokens: 0,
                    input_tokens: None,
                    output_tokens: None,
                    cost_usd: None,
                });
                by_model.len() - 1
            }
        };
        let model = &mut by_model[i];
        model.runs += 1;
        // A run counts its tokens only when it reported both.
        if let (Some(input), Some(output)) = (run.input_tokens, run.output_tokens) {
            model.runs_with_tokens += 1;
            model.input_tokens = add(model.input_tokens, Some(input));
            model.output_tokens = add(model.output_tokens, Some(output));
        }
    }
    let mut total = Usage {
        runs: 0,
        runs_with_tokens: 0,
        input_tokens: None,
        output_tokens: None,
        cost_usd: None,
        unpriced_runs: 0,
        by_model: Vec::new(),
    };
    for model in &mut by_model {
        let price = prices.of(&model.provider, &model.model);
        if let (Some(price), Some(input), Some(output)) =
            (price, model.input_tokens, model.output_tokens)
        {
            let cost = (input as f64 * price.input + output as f64 * price.output) / 1e6;
            model.cost_usd = Some(cost);
            total.cost_usd = Some(total.cost_usd.unwrap_or(0.0) + cost);
        } else if price.is_none() {
            total.unpriced_runs += model.runs_with_tokens;
        }
        total.runs += model.runs;
        total.runs_with_tokens += model.runs_with_tokens;
        total.input_tokens = add(total.input_tokens, model.input_tokens);
        total.output_tokens = add(total.output_tokens, model.output_tokens);
    }
    total.by_model = by_model;
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunStatus;

    fn run(provider: &str, model: &str, tokens: Option<(i64, i64)>) -> RunRecord {
        RunRecord {
            id: "r".into(),
            session_id: "s".into(),
            status: RunStatus::Completed,
            agent: "a".into(),
            provider: provider.into(),
            model: model.into(),
            input_tokens: tokens.map(|t| t.0),
            output_tokens: tokens.map(|t| t.1),
            error: None,
            first_token_ms: None,
            started_at: 0,
            finished_at: None,
        }
    }

    #[test]
    fn the_longest_prefix_prices_a_model() {
        let prices = Prices::default();
        assert_eq!(
            prices
                .of("openai", "gpt-4o-mini-2024-07-18")
                .map(|p| p.input),
            Some(0.15)
        );
        assert_eq!(
            prices.of("openai", "gpt-4o-2024-08-06").map(|p| p.input),
            Some(2.5)
        );
        assert_eq!(prices.of("openai", "gpt-3.5-turbo"), None);
        assert_eq!(prices.of("offline", "planner").map(|p| p.output), Some(0.0));
    }

    #[test]
    fn totals_leave_out_what_was_not_reported_and_costs_what_has_a_price() {
        let prices = Prices::with(&BTreeMap::from([(
            "openai/my-model".to_owned(),
            Price {
                input: 1.0,
                output: 2.0,
            },
        )]))
        .expect("prices");
        let usage = usage(
            &[
                run("openai", "my-model", Some((1_000_000, 500_000))),
                run("openai", "my-model", None),
                run("openai", "unknown-model", Some((10, 5))),
            ],
            &prices,
        );
        assert_eq!((usage.runs, usage.runs_with_tokens), (3, 2));
        assert_eq!(usage.input_tokens, Some(1_000_010));
        assert_eq!(usage.cost_usd, Some(2.0));
        assert_eq!(usage.unpriced_runs, 1);
        assert_eq!(usage.by_model[1].cost_usd, None);
        let none = super::usage(&[run("openai", "gpt-4o", None)], &prices);
        assert_eq!((none.input_tokens, none.cost_usd), (None, None), "not 0");
        assert!(
            Prices::with(&BTreeMap::from([(
                "gpt".into(),
                Price {
                    input: 1.0,
                    output: 1.0
                }
            )]))
            .is_err()
        );
        assert!(
            Prices::with(&BTreeMap::from([(
                "a/b".into(),
                Price {
                    input: -1.0,
                    output: 1.0
                }
            )]))
            .is_err()
        );
    }
}
