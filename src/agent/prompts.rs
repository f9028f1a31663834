//! The prompt templates: built in from `prompts/`, each replaceable by a file of the same name
//! in a user folder. Rendering is strict: an undefined variable is an error, not a hole.

use minijinja::{Environment, UndefinedBehavior};
use std::path::{Path, PathBuf};

/// The four templates, by file name, with their built-in text.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("system.md", include_str!("../../prompts/system.md")),
    ("generate.md", include_str!("../../prompts/generate.md")),
    ("repair.md", include_str!("../../prompts/repair.md")),
    ("summarise.md", include_str!("../../prompts/summarise.md")),
];

pub struct Prompts {
    env: Environment<'static>,
    /// Which templates came from the user folder.
    pub overridden: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
#[error("prompt template {name}: {message}")]
pub struct PromptError {
    pub name: String,
    pub message: String,
}

impl Prompts {
    /// The built-in templates, with any in `user_dir` replacing them.
    pub fn load(user_dir: Option<&Path>) -> Result<Prompts, PromptError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        let mut overridden = Vec::new();
        for (name, text) in BUILT_IN {
            let user = user_dir.map(|d| d.join(name)).filter(|p| p.is_file());
            let source = match &user {
                Some(p) => std::fs::read_to_string(p).map_err(|e| PromptError {
                    name: p.display().to_string(),
                    message: e.to_string(),
                })?,
                None => text.to_string(),
            };
            let shown = user
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("prompts/{name}"));
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| PromptError {
                    name: shown,
                    message: e.to_string(),
                })?;
            overridden.extend(user);
        }
        Ok(Prompts { env, overridden })
    }

    /// The default user folder: `$XDG_CONFIG_HOME/skipper/prompts` or `~/.config/skipper/prompts`.
    pub fn default_user_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("skipper").join("prompts"))
    }

    pub fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, PromptError> {
        let t = self.env.get_template(name).map_err(|e| PromptError {
            name: name.into(),
            message: e.to_string(),
        })?;
        t.render(ctx).map_err(|e| PromptError {
            name: name.into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn built_ins_render_and_overrides_replace() {
        let p = Prompts::load(None).unwrap();
        let s = p
            .render(
                "system.md",
                context! { now => "2026-11-22T10:00:00Z", timezone => "UTC" },
            )
            .unwrap();
        assert!(s.contains("\"Now\" is 2026-11-22T10:00:00Z (UTC)"), "{s}");
        // A missing variable is an error, not an empty hole.
        assert!(p.render("system.md", context! { now => "x" }).is_err());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("system.md"), "custom {{ now }}").unwrap();
        let p = Prompts::load(Some(dir.path())).unwrap();
        assert_eq!(
            p.render("system.md", context! { now => "n", timezone => "UTC" })
                .unwrap(),
            "custom n"
        );
        assert_eq!(p.overridden.len(), 1);
        std::fs::write(dir.path().join("repair.md"), "{% if %}").unwrap();
        let e = Prompts::load(Some(dir.path())).err().unwrap();
        assert!(e.to_string().contains("repair.md"), "{e}");
    }
}
