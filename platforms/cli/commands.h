// The `kite` subcommands. Each takes the arguments after its name and returns
// the process exit code (0 ok, 1 failure, 2 usage error).
#pragma once

namespace kite_cli {

int RunChat(int argc, char** argv);      // kite run
int RunGenerate(int argc, char** argv);  // kite generate
int RunTokenize(int argc, char** argv);  // kite tokenize
int RunTemplate(int argc, char** argv);  // kite template
int RunLogits(int argc, char** argv);    // kite logits
int RunInspect(int argc, char** argv);   // kite inspect
int RunVerify(int argc, char** argv);    // kite verify
int RunBench(int argc, char** argv);     // kite bench

}  // namespace kite_cli
