//! Place names and languages the EMIS data knows: read from the tools'
//! data by the toolbox, recognised in questions by the offline planner.

/// Values the offline planner recognises in a question.
#[derive(Debug, Clone, Default)]
pub struct KnownValues {
    /// (county as published, country code).
    pub counties: Vec<(String, String)>,
    pub sub_counties: Vec<String>,
    /// (code, name, other names).
    pub languages: Vec<(String, String, Vec<String>)>,
}
