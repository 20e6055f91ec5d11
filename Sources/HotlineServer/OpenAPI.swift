// MARK: - OpenAPI document

/// The REST API's OpenAPI 3.1 description, served at `/openapi.json`.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {"title": "Hotline", "version": "1.0.0",
           "description": "Speech transcription and voice bot for customer-service phone lines. Credentials: Authorization: Bearer KEY (or Basic with the key as password, or X-API-Key). Roles: gateway, qa, admin (admin has every role)."},
  "components": {
    "securitySchemes": {
      "bearer": {"type": "http", "scheme": "bearer"},
      "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    },
    "schemas": {
      "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}}}}},
      "Handoff": {"type": "object", "required": ["queue", "reason", "slots", "transcript"], "properties": {
        "queue": {"type": "string"}, "reason": {"type": "string"}, "intent": {"type": "string"},
        "slots": {"type": "object", "additionalProperties": {"type": "string"}},
        "transcript": {"type": "array", "items": {"type": "string"}}}},
      "CallLine": {"type": "object", "required": ["speaker", "text", "at"], "properties": {
        "speaker": {"type": "string", "enum": ["caller", "bot"]}, "text": {"type": "string"}, "at": {"type": "number"},
        "confidence": {"type": "number"}}},
      "Call": {"type": "object", "required": ["id", "gateway", "status", "startedAt", "duration", "errors", "transcript"], "properties": {
        "id": {"type": "string"},
        "gateway": {"type": "string", "enum": ["audiosocket", "twilio", "audio-fork", "jambonz", "vosk", "chat", "recording"]},
        "status": {"type": "string", "description": "live, or the outcome (docs/qa.md)",
                   "enum": ["live", "contained", "handed-off", "abandoned", "failed", "interrupted", "completed"]},
        "outcomeReason": {"type": "string"},
        "callerNumber": {"type": "string"}, "startedAt": {"type": "string", "format": "date-time"},
        "endedAt": {"type": "string", "format": "date-time"}, "endReason": {"type": "string"}, "duration": {"type": "number"},
        "handoff": {"$ref": "#/components/schemas/Handoff"},
        "errors": {"type": "array", "items": {"type": "string"}},
        "transcript": {"type": "array", "items": {"$ref": "#/components/schemas/CallLine"}}}},
      "Word": {"type": "object", "properties": {"word": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"},
        "confidence": {"type": "number"}}},
      "Utterance": {"type": "object", "properties": {"channel": {"type": "integer"}, "speaker": {"type": "string"},
        "start": {"type": "number"}, "end": {"type": "number"}, "text": {"type": "string"}, "confidence": {"type": "number"},
        "words": {"type": "array", "items": {"$ref": "#/components/schemas/Word"}}}},
      "Transcript": {"type": "object", "description": "hotline.transcript/1 (docs/transcript-schema.md)", "properties": {
        "schema": {"type": "string"}, "source": {"type": "string"}, "speakers": {"type": "array", "items": {"type": "string"}},
        "utterances": {"type": "array", "items": {"$ref": "#/components/schemas/Utterance"}},
        "decodeTime": {"type": "number"}, "realTimeFactor": {"type": "number"}}},
      "TranscriptionJob": {"type": "object", "required": ["id", "name", "duration", "status"], "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "duration": {"type": "number"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "transcript": {"$ref": "#/components/schemas/Transcript"}, "error": {"type": "string"}}},
      "ChatRequest": {"type": "object", "properties": {"session": {"type": "string", "description": "omit to start a session"},
        "text": {"type": "string"}, "caller": {"type": "string"}}},
      "ChatResponse": {"type": "object", "required": ["session", "reply", "state", "ended"], "properties": {
        "session": {"type": "string"}, "reply": {"type": "string"}, "intent": {"type": "string"}, "state": {"type": "string"},
        "ended": {"type": "boolean"}, "handoff": {"$ref": "#/components/schemas/Handoff"}}},
      "SynthesisRequest": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 5000},
        "voice": {"type": "string"}, "sample_rate": {"type": "integer", "enum": [8000, 16000, 22050]}}}
    },
    "responses": {
      "Unauthorized": {"description": "missing or wrong credentials", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "the key lacks the role", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "security": [{"bearer": []}, {"apiKey": []}],
  "paths": {
    "/v1/qa/calls": {"get": {"summary": "Stored calls, newest first or review first (role qa)", "parameters": [
      {"name": "q", "in": "query", "description": "words said (all of them)", "schema": {"type": "string"}},
      {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
      {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
      {"name": "status", "in": "query", "schema": {"type": "string",
        "enum": ["live", "contained", "handed-off", "abandoned", "failed", "interrupted", "completed"]}},
      {"name": "intent", "in": "query", "schema": {"type": "string"}},
      {"name": "rule", "in": "query", "schema": {"type": "string"}},
      {"name": "severity", "in": "query", "schema": {"type": "string", "enum": ["info", "warning", "critical"]}},
      {"name": "min_score", "in": "query", "schema": {"type": "number"}},
      {"name": "max_score", "in": "query", "schema": {"type": "number"}},
      {"name": "agent", "in": "query", "description": "calls the agent took (recorded calls)", "schema": {"type": "string"}},
      {"name": "order", "in": "query", "description": "newest first, or risk: critical findings, then the lowest scores, first",
       "schema": {"type": "string", "enum": ["newest", "risk"], "default": "newest"}},
      {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
      {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
      "responses": {"200": {"description": "calls and the total matching"}, "400": {"description": "a bad parameter"},
                    "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/v1/qa/calls/{id}": {"get": {"summary": "Everything stored about a call (role qa)",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "call, utterances, events, findings, reviews"}, "404": {"description": "no such call"}}}},
    "/v1/qa/calls/{id}/recording": {"get": {"summary": "The call's audio, caller left and bot right (role qa); range requests",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "audio/flac"}, "206": {"description": "the range asked for"}, "404": {"description": "no recording"}}}},
    "/v1/qa/calls/{id}/export": {"get": {"summary": "One call as json, csv, srt or vtt (role qa)",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                     {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv", "srt", "vtt"]}}],
      "responses": {"200": {"description": "the file"}, "404": {"description": "no such call"}}}},
    "/v1/qa/calls/{id}/review": {"put": {"summary": "Save the caller's scorecard for a call (role qa)",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["scores", "comment"], "properties": {
        "scores": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 5},
                   "description": "greeting, understanding, resolution, handoff, compliance"},
        "comment": {"type": "string", "maxLength": 10000}}}}}},
      "responses": {"200": {"description": "the saved review"}, "400": {"description": "a bad score"}, "404": {"description": "no such call"}}}},
    "/v1/qa/report": {"get": {"summary": "Totals: calls, containment, handoffs, intents, findings, scores, agents' scorecards (role qa)",
      "parameters": [{"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                     {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}}],
      "responses": {"200": {"description": "the report"}}}},
    "/v1/qa/feed": {"get": {"summary": "Live QA feed as Server-Sent Events: call-started, utterance, finding, alert, call-updated, call-ended (role qa)",
      "responses": {"200": {"description": "text/event-stream"}}}},
    "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "the process is up"}}}},
    "/ready": {"get": {"summary": "Readiness (503 while shutting down)", "security": [],
      "responses": {"200": {"description": "taking calls"}, "503": {"description": "draining"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (admin unless auth.metrics_public)",
      "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {}}},
        "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/v1/calls": {"get": {"summary": "Live calls (role qa)",
      "responses": {"200": {"description": "live calls", "content": {"application/json": {"schema": {"type": "object",
        "properties": {"calls": {"type": "array", "items": {"$ref": "#/components/schemas/Call"}}}}}}},
        "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/v1/calls/{id}": {"get": {"summary": "A call's state or outcome by id: where a dialplan routes the caller after the bot (role gateway or qa)",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "the call", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Call"}}}},
        "404": {"description": "unknown call"}, "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/v1/transcriptions": {"post": {"summary": "Transcribe an uploaded audio file (any format libsndfile reads). Short files are answered at once; long ones become a job (202).",
      "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}, "description": "file name (its extension helps with headerless audio)"}],
      "requestBody": {"required": true, "content": {"application/octet-stream": {}, "audio/*": {}}},
      "responses": {"200": {"description": "the transcript", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Transcript"}}}},
        "202": {"description": "a job was started; poll Location", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TranscriptionJob"}}}},
        "400": {"description": "empty body"}, "413": {"description": "too large"}, "422": {"description": "not readable audio (the message says why)"},
        "401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}}},
    "/v1/transcriptions/{id}": {"get": {"summary": "A transcription job",
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "the job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TranscriptionJob"}}}},
        "404": {"description": "unknown job"}}}},
    "/v1/synthesize": {"post": {"summary": "Speak text (espeak-ng) as WAV",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SynthesisRequest"}}}},
      "responses": {"200": {"description": "16-bit mono WAV", "content": {"audio/wav": {}}}, "400": {"description": "bad text or rate"}}}},
    "/v1/chat": {"post": {"summary": "One chat turn on the bot's flow (the same dialog as calls, typed)",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}}},
      "responses": {"200": {"description": "the bot's reply", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatResponse"}}}},
        "404": {"description": "unknown or expired session"}}}}
  }
}
"""#
}
