// On/off switches read from the environment (SGDBENCH_FUSED_UPDATE=0 and the like: diagnostic and
// A/B switches, documented in README.md beside what each turns off).
#pragma once

namespace sgdbench {

// `name`'s value as a switch: "1" on, "0" off; unset or empty: `fallback`. Anything else also
// gives `fallback`, with one line on stderr naming the variable and the value used, once per
// variable and value (these are read before main or once per run, where there is no command to
// fail: a mistyped switch must not silently measure the other variant).
bool env_switch(const char* name, bool fallback);

}  // namespace sgdbench
