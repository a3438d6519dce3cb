//! The ChatML template of SmolLM2-Instruct, as token ids.
//!
//! The model's own template (in its GGUF metadata) opens every conversation that has no system
//! message with a default one; without it, answers drift off topic, so [`ChatTemplate`] always
//! inserts it. The role markers are the special ids themselves: a user message is encoded as text,
//! between them.

use provmark_tokenize::Tokenizer;

use crate::{ModelError, Result};

/// The system message SmolLM2-Instruct's template inserts when the conversation has none.
pub const DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// ChatML with the special ids of one tokenizer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatTemplate {
    im_start: u32,
    im_end: u32,
    end_of_text: Option<u32>,
    system: String,
}

fn special_id(tok: &Tokenizer, text: &str) -> Option<u32> {
    match tok.encode(text).as_slice() {
        [id] if tok.is_special(*id) => Some(*id),
        _ => None,
    }
}

impl ChatTemplate {
    /// The template for a tokenizer that has `<|im_start|>` and `<|im_end|>` as special tokens.
    pub fn for_tokenizer(tok: &Tokenizer) -> Result<ChatTemplate> {
        let missing = |t: &str| {
            ModelError::Input(format!(
                "the tokenizer has no special token {t}: not a ChatML chat model"
            ))
        };
        Ok(ChatTemplate {
            im_start: special_id(tok, "<|im_start|>").ok_or_else(|| missing("<|im_start|>"))?,
            im_end: special_id(tok, "<|im_end|>").ok_or_else(|| missing("<|im_end|>"))?,
            end_of_text: special_id(tok, "<|endoftext|>"),
            system: DEFAULT_SYSTEM.to_string(),
        })
    }

    /// Replaces the default system message.
    pub fn with_system(mut self, system: &str) -> ChatTemplate {
        self.system = system.to_string();
        self
    }

    /// The ids of a one-turn conversation ending where the assistant's answer starts:
    /// `<|im_start|>system\n… <|im_end|>\n<|im_start|>user\n{message}<|im_end|>\n<|im_start|>assistant\n`.
    pub fn user_turn(&self, tok: &Tokenizer, message: &str) -> Vec<u32> {
        self.conversation(tok, &[("user", message)])
    }

    /// The ids of a conversation (role, content) ending where the assistant's answer starts.
    /// A leading `system` message replaces the default one.
    pub fn conversation(&self, tok: &Tokenizer, messages: &[(&str, &str)]) -> Vec<u32> {
        let mut ids = Vec::new();
        let has_system = messages.first().is_some_and(|(r, _)| *r == "system");
        if !has_system {
            self.push_turn(tok, &mut ids, "system", &self.system);
        }
        for (role, content) in messages {
            self.push_turn(tok, &mut ids, role, content);
        }
        ids.push(self.im_start);
        tok.encode_into("assistant\n", &mut ids);
        ids
    }

    fn push_turn(&self, tok: &Tokenizer, ids: &mut Vec<u32>, role: &str, content: &str) {
        ids.push(self.im_start);
        tok.encode_into(&format!("{role}\n{content}"), ids);
        ids.push(self.im_end);
        tok.encode_into("\n", ids);
    }

    /// True for the tokens that end the assistant's turn.
    pub fn is_end(&self, token: u32) -> bool {
        token == self.im_end || Some(token) == self.end_of_text
    }
}
