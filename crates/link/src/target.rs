//! [`StdioTarget`]: what to run, and the environment it gets.

use std::path::PathBuf;
use std::sync::Arc;

/// The variables a child inherits from the gateway's environment, as the
/// official MCP SDKs (and so mcpo) pass them: enough to find programs and a
/// home, never the gateway's own secrets (API keys, tokens).
pub const INHERITED_ENV: &[&str] = &[
    "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "TMPDIR",
];

/// A stdio MCP server: a command, its arguments, extra environment and a working directory.
///
/// ```
/// use mcp_reconnect_link::StdioTarget;
///
/// let target = StdioTarget::new("uvx")
///     .arg("mcp-server-time")
///     .env("TZ", "UTC")
///     .name("time");
/// assert_eq!(target.display(), "time");
/// assert_eq!(target.command_line(), "uvx mcp-server-time");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct StdioTarget {
    pub(crate) command: String,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) name: Arc<str>,
}

impl StdioTarget {
    /// Runs `command` (looked up on `PATH`), named after it.
    pub fn new(command: impl Into<String>) -> Self {
        let command = command.into();
        StdioTarget {
            name: Arc::from(command.as_str()),
            command,
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets `key` in the child's environment (over an inherited value).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the child in `dir`.
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Names the server in logs (its stderr lines included).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The value the target sets for `key`, if it sets one.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// The working directory, if one is set.
    pub fn working_dir(&self) -> Option<&std::path::Path> {
        self.cwd.as_deref()
    }

    /// The name logs use.
    pub fn display(&self) -> &str {
        &self.name
    }

    /// The command and its arguments, as one line for logs (never the environment).
    pub fn command_line(&self) -> String {
        std::iter::once(self.command.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The child's whole environment: [`INHERITED_ENV`] as the gateway has
    /// them (read through `lookup`), then the target's own.
    pub(crate) fn environment(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = INHERITED_ENV
            .iter()
            .filter_map(|key| lookup(key).map(|value| ((*key).to_owned(), value)))
            .collect();
        for (key, value) in &self.env {
            env.retain(|(existing, _)| existing != key);
            env.push((key.clone(), value.clone()));
        }
        env
    }
}

/// Environment values may be secrets: only their names are shown.
impl std::fmt::Debug for StdioTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdioTarget")
            .field("command", &self.command)
            .field("args", &self.args)
            .field(
                "env",
                &self.env.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(),
            )
            .field("cwd", &self.cwd)
            .field("name", &self.name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_gets_the_safe_variables_and_its_own_never_others() {
        let lookup = |key: &str| match key {
            "PATH" => Some("/usr/bin".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            "MCPO_API_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        let target = StdioTarget::new("x")
            .env("HOME", "/srv")
            .env("TZ", "UTC")
            .env("TOKEN", "hunter2");
        assert!(
            !format!("{target:?}").contains("hunter2"),
            "values never in Debug"
        );
        let env = target.environment(lookup);
        assert_eq!(
            env,
            [
                ("PATH", "/usr/bin"),
                ("HOME", "/srv"),
                ("TZ", "UTC"),
                ("TOKEN", "hunter2")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
        );
    }
}
