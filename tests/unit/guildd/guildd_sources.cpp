// The guildd sources the unit tests exercise, compiled into unit_guildd. The unit-test
// CMake links library areas only (daemon sources live in the guildd executable), so the
// daemon's pure, bus-free files are included here rather than listed in CMake. Only
// files without main() and without bus use belong here.
#include "../../../daemons/guildd/dir_keys.cpp"
#include "../../../daemons/guildd/directory.cpp"
#include "../../../daemons/guildd/tokens.cpp"
#include "../../../daemons/guildd/validation.cpp"
