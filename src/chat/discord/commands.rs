//! The `/cordon` slash command as Discord sees it: one guild command with
//! six subcommands, registered by `cordon discord register-commands`
//! (a bulk overwrite, so running it again is harmless). What each
//! subcommand does is shared with Slack ([`crate::chat::commands`]).

use super::api::{DiscordApi, DiscordError};
use serenity::builder::{CreateCommand, CreateCommandOption};
use serenity::model::application::CommandOptionType;

/// The command's name.
pub const NAME: &str = "cordon";

fn text(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
        .required(true)
        .max_length(200)
}

fn sub(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::SubCommand, name, description)
}

/// `/cordon status|explain|report|isolate|disable|reset`.
pub fn definitions() -> Vec<CreateCommand> {
    vec![
        CreateCommand::new(NAME)
            .description("Containment decisions: status, explain, report, isolate, disable, reset")
            .add_option(sub("status", "Open incidents and pending decisions"))
            .add_option(
                sub(
                    "explain",
                    "Which rule applies and who may approve, veto, override",
                )
                .add_sub_option(text("action", "Action kind, e.g. isolate_host"))
                .add_sub_option(text("target", "Host, user or IP the action is on")),
            )
            .add_option(sub("report", "A link to the time-to-contain report"))
            .add_option(
                sub(
                    "isolate",
                    "Propose isolating a host (the authority matrix decides who approves)",
                )
                .add_sub_option(text("host", "Hostname")),
            )
            .add_option(
                sub("disable", "Propose disabling a user account")
                    .add_sub_option(text("user", "User name")),
            )
            .add_option(
                sub(
                    "reset",
                    "Close an action's rate-guard breaker early (its reset roles)",
                )
                .add_sub_option(text("action", "Action kind, e.g. isolate_host")),
            ),
    ]
}

/// Registers the commands for one guild (guild commands show up at once;
/// global ones take up to an hour). Returns the names Discord now has.
pub async fn register(api: &DiscordApi, guild: u64) -> Result<Vec<String>, DiscordError> {
    let v = api.set_guild_commands(guild, &definitions()).await?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect())
}
