-- Chat (workbench/store/chat.py): a user's conversations with an agent, and their messages.
--
-- A session belongs to one user and one agent (graph id; not a foreign key, since graphs are keyed by
-- (id, version) and a conversation outlives versions). ``pins`` maps the chat's roles to the agent's
-- pins: {"message": ..., "reply": ..., "history": ... or null}. Messages are the user's text, the
-- agent's reply, or an error (the run failed or was stopped); ``execution_id`` names the run behind a
-- reply. The sidebar lists a user's sessions newest first (per agent or all), a session's messages in
-- order.

CREATE TABLE chat_sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    graph_id    uuid NOT NULL,
    title       text NOT NULL,
    pins        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_user_idx ON chat_sessions (user_id, updated_at DESC, id DESC);
CREATE INDEX chat_sessions_user_graph_idx ON chat_sessions (user_id, graph_id, updated_at DESC, id DESC);

CREATE TABLE chat_messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id    uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('user', 'assistant', 'error')),
    text          text NOT NULL,
    execution_id  uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_session_idx ON chat_messages (session_id, id);
