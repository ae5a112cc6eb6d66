# SPDX-License-Identifier: Apache-2.0
"""The knowledge book's only script: turn the reviewer's decisions into ``reviewers:`` YAML.

Kept apart from :mod:`engine.report.book` so the page builder stays readable. It reads the
decision controls on the page and writes, for each file, the entries to append to that file's
``reviewers:`` list ({name, role, date, scope, decision, notes}, the shape
:mod:`engine.kb.parse` validates). Strings are written with ``JSON.stringify``, whose output is a
valid YAML double-quoted scalar. No request is ever made; the download is a ``data:`` link.
"""

SCRIPT = r"""
(function () {
  "use strict";
  function q(sel) { return document.querySelector(sel); }
  function quote(s) { return JSON.stringify(s); }
  function collect() {
    var files = {};
    document.querySelectorAll(".rule[data-rule]").forEach(function (el) {
      var file = el.getAttribute("data-file"), id = el.getAttribute("data-rule");
      var e = files[file] || (files[file] = {all: [], approved: [], changes: [], notes: {}});
      var sel = el.querySelector("select[data-decision]");
      var note = el.querySelector("textarea[data-notes]");
      var decision = sel ? sel.value : "", text = note ? note.value.trim() : "";
      e.all.push(id);
      if (decision === "approved") { e.approved.push(id); }
      if (decision === "changes_requested") { e.changes.push(id); }
      if (decision && text) { e.notes[id] = text; }
    });
    return files;
  }
  function entry(who, decision, ids, all, notes) {
    var scope = decision === "approved" && ids.length === all.length
      ? "file" : "[" + ids.map(quote).join(", ") + "]";
    var said = ids.filter(function (id) { return notes[id]; })
      .map(function (id) { return id + ": " + notes[id]; }).join("; ");
    return "  - {name: " + quote(who.name) + ", role: " + quote(who.role) + ", date: " +
      who.date + ", scope: " + scope + ", decision: " + decision +
      (said ? ", notes: " + quote(said) : "") + "}";
  }
  function exportDecisions() {
    var who = {name: q("#rev-name").value.trim(), role: q("#rev-role").value.trim(),
               date: q("#rev-date").value};
    var error = q("#export-error");
    error.textContent = "";
    if (!who.name || !who.role || !/^\d{4}-\d{2}-\d{2}$/.test(who.date)) {
      error.textContent = "Fill in the reviewer's name, role and date first.";
      return "";
    }
    var files = collect(), lines = [
      "# leukodx review decisions, exported from the knowledge book.",
      "# Append each file's entries to that file's reviewers: list; set review_status: approved",
      "# when every rule of the file is approved; then run leukodx lint --require-approved."
    ], count = 0;
    Object.keys(files).sort().forEach(function (file) {
      var e = files[file];
      if (!e.approved.length && !e.changes.length) { return; }
      lines.push(quote(file) + ":");
      [["approved", e.approved], ["changes_requested", e.changes]].forEach(function (pair) {
        if (pair[1].length) { lines.push(entry(who, pair[0], pair[1], e.all, e.notes)); count++; }
      });
    });
    if (!count) { error.textContent = "No decision recorded yet."; return ""; }
    var text = lines.join("\n") + "\n";
    q("#export").value = text;
    var link = q("#download");
    link.href = "data:text/yaml;charset=utf-8," + encodeURIComponent(text);
    link.hidden = false;
    return text;
  }
  window.leukodxExportDecisions = exportDecisions;
  q("#export-button").addEventListener("click", exportDecisions);
}());
"""
