// The presence sources the unit tests exercise, compiled into unit_presence: presenced's
// bus-free state, its description of undecodable requests, and gatewayd's presence JSON edge
// (daemon sources live in their executables; the unit-test CMake links library areas only).
#include "../../../daemons/gatewayd/presence_json.cpp"
#include "../../../daemons/presenced/bad_request.cpp"
#include "../../../daemons/presenced/presence_state.cpp"
