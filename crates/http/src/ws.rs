//! `GET /api/v1/ws`: the live update stream.
//!
//! Each connection replays the user's update log from the client's cursor, then waits on the bus
//! for wake-ups and re-reads from its own cursor. The store is the truth; a wake-up only says "look
//! again", so a lost wake-up delays but never loses an event, and replay after a reconnect sends
//! exactly what was missed.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use plaza_core::{User, UserId};
use plaza_protocol::ServerFrame;
use plaza_service::ChatActionSignal;
use plaza_store::{Event, EventBody};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::convert::{Senders, callback_answer_out, chat_out, poll_out, reactions_out};
use crate::error::{ApiError, ApiResult};
use crate::extract::bearer;

/// Events read from the store per round trip.
const PAGE: u32 = 256;
/// How often an idle connection is pinged, so dead peers are noticed.
const PING_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize, IntoParams)]
pub struct WsQuery {
    /// Resume after this cursor (the `cursor` of the last frame seen). Without it the stream starts
    /// at the present.
    pub cursor: Option<u64>,
    /// The session token, for clients that cannot set headers on a WebSocket (browsers).
    pub token: Option<String>,
}

/// Turns log events into frames, looking each sender up once.
pub async fn frames(state: &AppState, viewer: UserId, events: Vec<Event>) -> ApiResult<Vec<ServerFrame>> {
    let mut senders = Senders::for_viewer(viewer);
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let cursor = e.seq;
        out.push(match e.body {
            EventBody::MessageNew { chat_id, message } => ServerFrame::MessageNew {
                cursor,
                message: senders.message_out(&state.service, chat_id, &message).await?,
            },
            EventBody::MessageEdited { chat_id, message } => ServerFrame::MessageEdited {
                cursor,
                message: senders.message_out(&state.service, chat_id, &message).await?,
            },
            EventBody::MessageDeleted { chat_id, message_id } => {
                ServerFrame::MessageDeleted { cursor, chat_id: chat_id.0, message_id: message_id.0 }
            }
            EventBody::ChatUpdated { chat } => ServerFrame::ChatUpdated { cursor, chat: chat_out(&chat) },
            EventBody::ChatRemoved { chat_id } => ServerFrame::ChatRemoved { cursor, chat_id: chat_id.0 },
            EventBody::ReadInbox { chat_id, max_id } => {
                ServerFrame::ReadInbox { cursor, chat_id: chat_id.0, max_id: max_id.0 }
            }
            EventBody::ReadOutbox { chat_id, max_id } => {
                ServerFrame::ReadOutbox { cursor, chat_id: chat_id.0, max_id: max_id.0 }
            }
            EventBody::CallbackAnswer { chat_id, query } => {
                ServerFrame::CallbackAnswer { cursor, answer: callback_answer_out(chat_id, &query) }
            }
            EventBody::PollUpdated { chat_id, message_id, poll } => {
                ServerFrame::PollUpdated { cursor, chat_id: chat_id.0, message_id: message_id.0, poll: poll_out(&poll) }
            }
            EventBody::ReactionsUpdated { chat_id, message_id, reactions } => ServerFrame::ReactionsUpdated {
                cursor,
                chat_id: chat_id.0,
                message_id: message_id.0,
                reactions: reactions_out(&reactions),
            },
            EventBody::PaymentUpdated { payment } => {
                ServerFrame::PaymentUpdated { cursor, payment: crate::payments::payment_view(state, &payment).await? }
            }
            // The request that sent the address waits for the answer itself.
            EventBody::ShippingAnswered { .. } => continue,
            // Only bots receive these; a person's log never holds them.
            EventBody::PreCheckoutQuery { .. }
            | EventBody::ShippingQuery { .. }
            | EventBody::CallbackQuery { .. }
            | EventBody::MemberChanged { .. }
            | EventBody::PollAnswered { .. }
            | EventBody::MessageReaction { .. } => continue,
        });
    }
    Ok(out)
}

/// Open the update stream (WebSocket). Frames are JSON `ServerFrame`s; the first is `hello`.
#[utoipa::path(get, path = "/api/v1/ws", tag = "updates", security(("bearer" = [])), params(WsQuery),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 400, body = plaza_protocol::ErrorBody), (status = 401, body = plaza_protocol::ErrorBody)))]
pub async fn ws(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<WsQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let token =
        bearer(&parts).map(str::to_string).or(q.token).ok_or_else(|| ApiError::unauthorized("send a session token"))?;
    let user = state.service.authenticate(&token).await?;
    let current = state.service.current_cursor(user.id).await?;
    let cursor = match q.cursor {
        Some(c) if c > current => return Err(ApiError::bad_request("cursor is ahead of the update log")),
        Some(c) => c,
        None => current,
    };
    let upgrade = upgrade.map_err(|r| ApiError::new(r.status(), "websocket_required", r.body_text()))?;
    Ok(upgrade
        // Small buffers keep an idle connection cheap; they grow on demand for large frames.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| run(state, user, cursor, socket)))
}

async fn run(state: AppState, user: std::sync::Arc<User>, mut cursor: u64, socket: WebSocket) {
    let _tracked = state.tracker.token();
    state.metrics.ws_connections.inc();
    let _gauge = scopeguard(&state);
    let (mut sink, mut stream) = socket.split();
    let mut sub = state.service.subscribe(user.id);
    let apps_url = state.service.apps_url().base();
    if send(&mut sink, &ServerFrame::Hello { cursor, apps_url }).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    // Whether the store may hold entries past `cursor` that have not been sent.
    let mut behind = true;
    loop {
        // Catch up with the log.
        while behind {
            // Boxed: the futures of catching up and of building frames are large, and only live
            // while they run, so an idle connection's task stays small (it is most of what an idle
            // WebSocket costs).
            let page = match Box::pin(state.service.events_after(user.id, cursor, PAGE)).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, user = user.id.0, "ws: reading the update log failed");
                    let _ = close(&mut sink, close_code::ERROR, "internal error").await;
                    return;
                }
            };
            if Box::pin(send_events(&state, user.id, &mut sink, page.events)).await.is_err() {
                return;
            }
            cursor = page.next_cursor;
            behind = page.scanned == PAGE;
        }
        let _ = sink.flush().await;
        tokio::select! {
            hint = sub.changed() => {
                let Some(hint) = hint else { return };
                if let Some(signal) = hint.ephemeral.and_then(|p| p.downcast::<ChatActionSignal>().ok()) {
                    let frame = ServerFrame::ChatAction {
                        cursor,
                        chat_id: signal.chat_id.0,
                        user_id: signal.user.0,
                        action: signal.action.to_string(),
                    };
                    if send(&mut sink, &frame).await.is_err() {
                        return;
                    }
                }
                match hint.payload.and_then(|p| p.downcast::<Event>().ok()) {
                    // The very next entry came with the hint: send it without reading the store.
                    Some(event) if hint.seq == cursor + 1 && event.seq == hint.seq => {
                        if Box::pin(send_events(&state, user.id, &mut sink, vec![Event::clone(&event)])).await.is_err() {
                            return;
                        }
                        cursor = hint.seq;
                    }
                    _ => behind = hint.seq > cursor,
                }
            }
            incoming = stream.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return,
                // Pings are answered by the protocol layer; text from the client is not used yet.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if sink.send(WsMessage::Ping(Default::default())).await.is_err() { return }
            }
            () = state.shutdown.cancelled() => {
                let _ = close(&mut sink, close_code::AWAY, "server is shutting down").await;
                return;
            }
        }
    }
}

/// Sends events as frames; an error means the connection is gone or the frames could not be built.
async fn send_events(state: &AppState, viewer: UserId, sink: &mut Sink, events: Vec<Event>) -> Result<(), ()> {
    let frames = match frames(state, viewer, events).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = ?e, "ws: building frames failed");
            let _ = close(sink, close_code::ERROR, "internal error").await;
            return Err(());
        }
    };
    for f in &frames {
        send(sink, f).await.map_err(|_| ())?;
    }
    Ok(())
}

type Sink = futures_util::stream::SplitSink<WebSocket, WsMessage>;

async fn send(sink: &mut Sink, frame: &ServerFrame) -> Result<(), axum::Error> {
    let text = serde_json::to_string(frame).expect("frames serialize");
    sink.feed(WsMessage::Text(text.into())).await
}

async fn close(sink: &mut Sink, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    sink.send(WsMessage::Close(Some(CloseFrame { code, reason: reason.into() }))).await
}

/// Decrements the connection gauge however the connection ends.
struct GaugeGuard(AppState);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.metrics.ws_connections.dec();
    }
}

fn scopeguard(state: &AppState) -> GaugeGuard {
    GaugeGuard(state.clone())
}
