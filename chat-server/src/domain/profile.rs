//! A user's profile: the typed fields answers depend on (what to call them,
//! their role, where they work, the language and detail they want), and
//! whether memory is on for them. `checked` holds the rules a profile must
//! meet before it is saved.

use serde::{Deserialize, Serialize};

use super::KnownValues;

/// The longest display name kept, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 80;

/// What the user does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileRole {
    Teacher,
    HeadTeacher,
    /// A county or district education officer.
    CountyOfficer,
    Parent,
    Researcher,
    Other,
}

impl ProfileRole {
    pub const ALL: [ProfileRole; 6] = [
        ProfileRole::Teacher,
        ProfileRole::HeadTeacher,
        ProfileRole::CountyOfficer,
        ProfileRole::Parent,
        ProfileRole::Researcher,
        ProfileRole::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileRole::Teacher => "teacher",
            ProfileRole::HeadTeacher => "head_teacher",
            ProfileRole::CountyOfficer => "county_officer",
            ProfileRole::Parent => "parent",
            ProfileRole::Researcher => "researcher",
            ProfileRole::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// As a sentence would say it.
    pub fn label(self) -> &'static str {
        match self {
            ProfileRole::Teacher => "teacher",
            ProfileRole::HeadTeacher => "head teacher",
            ProfileRole::CountyOfficer => "county/district education officer",
            ProfileRole::Parent => "parent",
            ProfileRole::Researcher => "researcher",
            ProfileRole::Other => "other",
        }
    }
}

/// How long answers should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    Short,
    Detailed,
}

impl Detail {
    pub fn as_str(self) -> &'static str {
        match self {
            Detail::Short => "short",
            Detail::Detailed => "detailed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Detail::Short, Detail::Detailed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

fn yes() -> bool {
    true
}

/// A user's profile; every field may be unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub role: Option<ProfileRole>,
    /// `KE` or `US`, the data's country codes.
    #[serde(default)]
    pub country: Option<String>,
    /// The county (Kenya) or district (Florida county) as the data publishes it.
    #[serde(default)]
    pub county: Option<String>,
    /// The language answers should be in, by name ("Kiswahili").
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub detail: Option<Detail>,
    /// Whether memory is read and written for this user.
    #[serde(default = "yes")]
    pub memory_enabled: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            display_name: None,
            role: None,
            country: None,
            county: None,
            language: None,
            detail: None,
            memory_enabled: true,
        }
    }
}

impl Profile {
    /// Whether any field answers depend on is set.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.role.is_none()
            && self.county.is_none()
            && self.country.is_none()
            && self.language.is_none()
            && self.detail.is_none()
    }

    /// The profile as it is saved: the county and language spelt as the
    /// data spells them (the country follows from the county), the name
    /// trimmed. An unknown county or language, or a name too long, is an
    /// error naming the field.
    pub fn checked(mut self, known: &KnownValues) -> Result<Profile, String> {
        let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        self.display_name = blank(self.display_name);
        if let Some(name) = &self.display_name {
            let chars = name.chars().count();
            if chars > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(format!(
                    "display_name: at most {MAX_DISPLAY_NAME_CHARS} characters, on one line (got {chars})"
                ));
            }
        }
        self.country = match blank(self.country) {
            Some(code) => {
                let upper = code.to_ascii_uppercase();
                if !known.counties.iter().any(|(_, c)| *c == upper) {
                    return Err(format!(
                        "country: {code:?} is not a country of the data (KE or US)"
                    ));
                }
                Some(upper)
            }
            None => None,
        };
        if let Some(county) = blank(self.county) {
            let found = known.counties.iter().find(|(name, code)| {
                name.eq_ignore_ascii_case(&county)
                    && self.country.as_deref().is_none_or(|c| c == code)
            });
            let Some((name, code)) = found else {
                return Err(format!(
                    "county: {county:?} is not a county or district of the data{}",
                    self.country
                        .as_deref()
                        .map(|c| format!(" in {c}"))
                        .unwrap_or_default()
                ));
            };
            self.county = Some(name.clone());
            self.country = Some(code.clone());
        } else {
            self.county = None;
        }
        if let Some(language) = blank(self.language) {
            self.language = Some(known.language_name(&language).ok_or_else(|| {
                format!(
                    "language: {language:?} is not a language we know (try English or Kiswahili)"
                )
            })?);
        } else {
            self.language = None;
        }
        Ok(self)
    }
}

impl KnownValues {
    /// A language's name from its name, code or another name of it
    /// (English is always known).
    pub fn language_name(&self, asked: &str) -> Option<String> {
        let asked = asked.trim();
        if asked.eq_ignore_ascii_case("english") || asked.eq_ignore_ascii_case("en") {
            return Some("English".into());
        }
        self.languages
            .iter()
            .find(|(code, name, others)| {
                code.eq_ignore_ascii_case(asked)
                    || name.eq_ignore_ascii_case(asked)
                    || others.iter().any(|o| o.eq_ignore_ascii_case(asked))
            })
            .map(|(_, name, _)| name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> KnownValues {
        KnownValues {
            counties: vec![
                ("Kisumu".into(), "KE".into()),
                ("ORANGE".into(), "US".into()),
            ],
            sub_counties: vec![],
            languages: vec![("sw".into(), "Kiswahili".into(), vec!["swahili".into()])],
        }
    }

    #[test]
    fn a_profile_is_spelt_as_the_data_spells_it() {
        let profile = Profile {
            display_name: Some("  Achieng ".into()),
            county: Some("kisumu".into()),
            language: Some("Swahili".into()),
            ..Profile::default()
        }
        .checked(&known())
        .expect("valid");
        assert_eq!(profile.display_name.as_deref(), Some("Achieng"));
        assert_eq!(
            (profile.county.as_deref(), profile.country.as_deref()),
            (Some("Kisumu"), Some("KE"))
        );
        assert_eq!(profile.language.as_deref(), Some("Kiswahili"));
    }

    #[test]
    fn an_unknown_county_language_or_long_name_names_its_field() {
        for (profile, field) in [
            (
                Profile {
                    county: Some("Atlantis".into()),
                    ..Profile::default()
                },
                "county",
            ),
            (
                Profile {
                    country: Some("KE".into()),
                    county: Some("Orange".into()),
                    ..Profile::default()
                },
                "county",
            ),
            (
                Profile {
                    language: Some("Klingon".into()),
                    ..Profile::default()
                },
                "language",
            ),
            (
                Profile {
                    display_name: Some("x".repeat(81)),
                    ..Profile::default()
                },
                "display_name",
            ),
            (
                Profile {
                    country: Some("FR".into()),
                    ..Profile::default()
                },
                "country",
            ),
        ] {
            let error = profile.checked(&known()).expect_err(field);
            assert!(error.starts_with(field), "{error}");
        }
    }
}
