// Switches for tests of the dumper only (never set by the library or the CLI): each
// breaks one step on purpose, so that a test can show its assertion catches the fault.
#pragma once

namespace pagescan::dump::test_hooks {

// The final pass ignores the pages written since the last pre-copy pass (a dumper that
// forgot its last recopy).
extern bool skip_final_recopy;

// The dump fails after its first pre-copy pass, as a full disk would: the pages that
// pass harvested are re-armed in the target but the core is never finished.
extern bool fail_after_first_pass;

}  // namespace pagescan::dump::test_hooks
