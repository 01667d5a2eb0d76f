-- Requests for public documents (begäran om allmän handling): when the oldest unanswered one of a
-- case came in, so that the case tops its officer's inbox. NULL: none waiting. The inbox's own
-- migration (0005) may add the same column; either order leaves one column.
ALTER TABLE cases ADD COLUMN IF NOT EXISTS records_pending_since timestamptz;
