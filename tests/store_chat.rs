//! Chat bookkeeping in the store, on SQLite and PostgreSQL: what a chat
//! surface has posted per incident (so a retried job posts nothing twice)
//! and incidents opened by a person from chat.

mod common;

use common::{both, t0};
use cordon::domain::Severity;
use cordon::store::ChatMessage;

#[tokio::test]
async fn chat_state_remembers_each_item_once_per_platform_and_incident() {
    for db in both().await {
        let store = db.store().await;
        let inc = store
            .open_manual_incident(
                "isolate_host db-prod-01 requested by alice",
                Severity::High,
                t0(),
            )
            .await
            .expect("open");
        let row = store.get_incident(inc).await.expect("get").expect("exists");
        assert_eq!(row.status, "open", "{}", db.label);
        assert_eq!(row.severity().expect("severity"), Severity::High);
        assert_eq!(row.detected_at, t0());
        assert!(
            store
                .chat_state("slack", inc)
                .await
                .expect("empty")
                .is_empty()
        );

        store
            .put_chat_state("slack", inc, "channel", "C1", t0())
            .await
            .expect("put");
        store
            .put_chat_state("slack", inc, "event:1:1", "1.0001", t0())
            .await
            .expect("put");
        store
            .put_chat_state("slack", inc, "main_hash", "a", t0())
            .await
            .expect("put");
        // An upsert replaces the value (the main message's content hash moves on).
        store
            .put_chat_state("slack", inc, "main_hash", "b", t0())
            .await
            .expect("upsert");
        store
            .put_chat_state("discord", inc, "channel", "D9", t0())
            .await
            .expect("put");
        let s = store.chat_state("slack", inc).await.expect("state");
        assert_eq!(s.len(), 3, "{}", db.label);
        assert_eq!(s["main_hash"], "b");
        assert_eq!(s["event:1:1"], "1.0001");
        assert_eq!(
            store.chat_state("discord", inc).await.expect("state")["channel"],
            "D9"
        );

        let m = ChatMessage {
            platform: "slack".into(),
            incident_id: inc.0,
            decision_id: None,
            channel: "C1".into(),
            message_ref: "1.0001".into(),
            thread_ref: None,
        };
        store.save_chat_message(&m, t0()).await.expect("save");
        assert_eq!(
            store.incident_message("slack", inc).await.expect("get"),
            Some(m)
        );
    }
}
