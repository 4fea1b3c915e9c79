//! Polls and reactions, with Telegram's limits.

use crate::{Denied, Invalid, UserId};

pub const MAX_QUESTION: usize = 300;
pub const MAX_OPTIONS: usize = 12;
pub const MAX_OPTION_TEXT: usize = 100;
pub const MAX_EXPLANATION: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollKind {
    Regular,
    /// One correct answer; a vote can't be taken back.
    Quiz,
}

impl PollKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PollKind::Regular => "regular",
            PollKind::Quiz => "quiz",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "regular" | "" => Ok(PollKind::Regular),
            "quiz" => Ok(PollKind::Quiz),
            _ => Err(Invalid::new("type", "poll type must be regular or quiz")),
        }
    }
}

/// A poll about to be sent; valid by construction. `id` is chosen by the caller (unguessable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPoll {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
    pub is_anonymous: bool,
    pub kind: PollKind,
    pub allows_multiple_answers: bool,
    pub correct_option_id: Option<u8>,
    pub explanation: Option<String>,
    pub is_closed: bool,
}

impl NewPoll {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        question: &str,
        options: Vec<String>,
        is_anonymous: bool,
        kind: PollKind,
        allows_multiple_answers: bool,
        correct_option_id: Option<i64>,
        explanation: Option<String>,
        is_closed: bool,
    ) -> Result<Self, Invalid> {
        let question = question.trim();
        if question.is_empty() || question.chars().count() > MAX_QUESTION {
            return Err(Invalid::new("question", "poll question must be 1-300 characters long"));
        }
        if options.len() < 2 || options.len() > MAX_OPTIONS {
            return Err(Invalid::new("options", "poll must have 2-12 options"));
        }
        let options: Vec<String> = options.into_iter().map(|o| o.trim().to_string()).collect();
        if options.iter().any(|o| o.is_empty() || o.chars().count() > MAX_OPTION_TEXT) {
            return Err(Invalid::new("options", "poll options must be 1-100 characters long"));
        }
        let correct_option_id = match (kind, correct_option_id) {
            (PollKind::Quiz, Some(c)) if c >= 0 && (c as usize) < options.len() => Some(c as u8),
            (PollKind::Quiz, _) => {
                return Err(Invalid::new("correct_option_id", "quiz poll must have a correct option"));
            }
            (PollKind::Regular, _) => None,
        };
        if kind == PollKind::Quiz && allows_multiple_answers {
            return Err(Invalid::new("allows_multiple_answers", "quiz poll can't allow multiple answers"));
        }
        let explanation = explanation.filter(|e| !e.is_empty());
        if explanation.as_deref().is_some_and(|e| e.chars().count() > MAX_EXPLANATION) {
            return Err(Invalid::new("explanation", "poll explanation must be at most 200 characters long"));
        }
        Ok(NewPoll {
            id,
            question: question.to_string(),
            options,
            is_anonymous,
            kind,
            allows_multiple_answers,
            correct_option_id,
            explanation,
            is_closed,
        })
    }

    /// Are these option ids a valid vote (empty retracts it)?
    pub fn check_vote(&self, option_ids: &[u8]) -> Result<(), Invalid> {
        if option_ids.len() > 1 && !self.allows_multiple_answers {
            return Err(Invalid::new("option_ids", "the poll allows only one answer"));
        }
        let mut seen = [false; MAX_OPTIONS];
        for &o in option_ids {
            if o as usize >= self.options.len() || std::mem::replace(&mut seen[o as usize], true) {
                return Err(Invalid::new("option_ids", "wrong option ids"));
            }
        }
        Ok(())
    }
}

/// A poll with its current counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub spec: NewPoll,
    /// Voters per option, in option order.
    pub voter_counts: Vec<u32>,
    pub total_voter_count: u32,
    /// The viewer's own choice, when read for a viewer.
    pub my_vote: Vec<u8>,
}

impl Poll {
    /// May the viewer vote `option_ids` now (the poll is open, the vote is valid, a quiz answer is
    /// final)? `Ok(false)` when it is the vote they already cast, so nothing changes.
    pub fn check_new_vote(&self, option_ids: &[u8]) -> Result<bool, Denied> {
        if self.spec.is_closed {
            return Err(Denied::PollClosed);
        }
        self.spec.check_vote(option_ids).map_err(|_| Denied::NoPoll)?;
        if self.spec.kind == PollKind::Quiz && !self.my_vote.is_empty() {
            return Err(Denied::VoteIsFinal);
        }
        Ok(option_ids != self.my_vote)
    }
}

/// One user's answer to a non-anonymous poll, as its bot learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollAnswer {
    pub poll_id: String,
    pub user: UserId,
    /// Empty when the user took the vote back.
    pub option_ids: Vec<u8>,
}

/// The reactions Telegram offers everyone (its standard set).
pub const REACTIONS: &[&str] = &[
    "👍",
    "👎",
    "❤",
    "🔥",
    "🥰",
    "👏",
    "😁",
    "🤔",
    "🤯",
    "😱",
    "🤬",
    "😢",
    "🎉",
    "🤩",
    "🤮",
    "💩",
    "🙏",
    "👌",
    "🕊",
    "🤡",
    "🥱",
    "🥴",
    "😍",
    "🐳",
    "❤‍🔥",
    "🌚",
    "🌭",
    "💯",
    "🤣",
    "⚡",
    "🍌",
    "🏆",
    "💔",
    "🤨",
    "😐",
    "🍓",
    "🍾",
    "💋",
    "🖕",
    "😈",
    "😴",
    "😭",
    "🤓",
    "👻",
    "👨‍💻",
    "👀",
    "🎃",
    "🙈",
    "😇",
    "😨",
    "🤝",
    "✍",
    "🤗",
    "🫡",
    "🎅",
    "🎄",
    "☃",
    "💅",
    "🤪",
    "🗿",
    "🆒",
    "💘",
    "🙉",
    "🦄",
    "😘",
    "💊",
    "🙊",
    "😎",
    "👾",
    "🤷‍♂",
    "🤷",
    "🤷‍♀",
    "😡",
];

/// Most reactions one person puts on one message (bots: one).
pub const MAX_REACTIONS: usize = 3;

/// A set of reactions one user puts on a message: known emoji, no repeats, at most `max`.
pub fn check_reactions(emojis: Vec<String>, max: usize) -> Result<Vec<String>, Invalid> {
    if emojis.len() > max {
        return Err(Invalid::new("reaction", "REACTIONS_TOO_MANY"));
    }
    let mut out: Vec<String> = Vec::with_capacity(emojis.len());
    for e in emojis {
        // Telegram's clients send some emoji with a variation selector; the set has them without.
        let bare = e.trim_end_matches('\u{fe0f}').to_string();
        if !REACTIONS.contains(&bare.as_str()) {
            return Err(Invalid::new("reaction", "REACTION_INVALID"));
        }
        if !out.contains(&bare) {
            out.push(bare);
        }
    }
    Ok(out)
}

/// How many people reacted with an emoji, and whether the viewer is one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: u32,
    pub chosen: bool,
}

/// A change of one user's reactions on a message, as a bot in the chat learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionChange {
    pub chat: crate::ChatKey,
    pub message_id: crate::MessageId,
    pub user: UserId,
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub date: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(kind: PollKind, multi: bool, correct: Option<i64>) -> Result<NewPoll, Invalid> {
        NewPoll::new(
            "p".into(),
            "Q?",
            vec!["a".into(), "b".into(), "c".into()],
            true,
            kind,
            multi,
            correct,
            None,
            false,
        )
    }

    #[test]
    fn polls_follow_telegrams_rules() {
        assert!(poll(PollKind::Regular, true, None).is_ok());
        assert!(poll(PollKind::Quiz, false, None).is_err());
        assert!(poll(PollKind::Quiz, false, Some(3)).is_err());
        assert!(poll(PollKind::Quiz, true, Some(1)).is_err());
        assert_eq!(poll(PollKind::Quiz, false, Some(2)).unwrap().correct_option_id, Some(2));
        assert!(
            NewPoll::new("p".into(), "Q", vec!["only".into()], true, PollKind::Regular, false, None, None, false)
                .is_err()
        );
        let single = poll(PollKind::Regular, false, None).unwrap();
        assert!(single.check_vote(&[0]).is_ok() && single.check_vote(&[]).is_ok());
        assert!(single.check_vote(&[0, 1]).is_err() && single.check_vote(&[3]).is_err());
        let multi = poll(PollKind::Regular, true, None).unwrap();
        assert!(multi.check_vote(&[0, 2]).is_ok() && multi.check_vote(&[1, 1]).is_err());
    }

    #[test]
    fn reactions_come_from_the_standard_set() {
        assert_eq!(check_reactions(vec!["👍".into(), "❤️".into()], 3).unwrap(), vec!["👍", "❤"]);
        assert!(check_reactions(vec!["🦀".into()], 3).is_err());
        assert!(check_reactions(vec!["👍".into(), "👎".into()], 1).is_err());
        assert_eq!(check_reactions(vec!["👍".into(), "👍".into()], 3).unwrap(), vec!["👍"]);
    }
}
