// chatctl: the operator's and script's tool. Everything lives in the command classes;
// see app.hpp for the frame and CLI.md for the contract.
#include "app.hpp"

int main(int argc, char** argv) {
  return chat::ctl::run_chatctl(argc, argv);
}
