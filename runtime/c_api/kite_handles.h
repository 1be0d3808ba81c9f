// What the C API's opaque handles hold. Internal: for the C API's implementation and the glue
// built on it inside Kite (platforms/wasm), never for users of kite.h.
#pragma once

#include <memory>

#include "runtime/llm/engine.h"
#include "runtime/llm/session.h"

struct kite_engine {
  std::unique_ptr<kite::Engine> engine;
};
struct kite_session {
  std::unique_ptr<kite::Session> session;
};
