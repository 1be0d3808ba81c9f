// What the node test scripts share: a check that counts failures instead of stopping at the first,
// the exit that reports them, and argmax over a logits row.
'use strict';

let failures = 0;

function check(ok, what) {
  if (!ok) {
    failures++;
    console.log('FAIL ' + what);
  }
}

// Exits 1 after printing the count when a check failed, else prints `passed` and exits 0 (the
// threads build's worker pool would keep node alive).
function finish(passed) {
  if (failures) {
    console.log(failures + ' check(s) failed');
    process.exit(1);
  }
  console.log(passed);
  process.exit(0);
}

function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; ++i) if (x[i] > x[best]) best = i;
  return best;
}

module.exports = { check, finish, argmax };
