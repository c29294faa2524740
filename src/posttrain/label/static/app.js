// Keyboard shortcuts for the item page (the form works without them):
//   1..n pick the better answer, T tie, H harmful, W write a better answer, Enter send;
//   inside a text box, Ctrl+Enter sends and Esc leaves the box.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("judge-form");
  if (!form) return;
  const choices = Array.from(form.querySelectorAll("input[name=preferred]"));
  const answers = Array.from(form.querySelectorAll(".answer"));
  const mark = () => answers.forEach((answer) => {
    const radio = answer.querySelector("input[name=preferred]");
    answer.classList.toggle("chosen", radio.checked);
  });
  choices.forEach((radio) => radio.addEventListener("change", mark));
  mark();
  let sending = false;
  form.addEventListener("submit", () => { sending = true; });
  const send = () => { if (!sending) form.requestSubmit(); };

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing = target.matches("textarea, input[type=text], input[type=password], select");
    if (typing) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send(); }
      else if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key.toLowerCase();
    const number = parseInt(key, 10);
    if (number >= 1 && number <= answers.length) {
      answers[number - 1].querySelector("input[name=preferred]").checked = true;
    } else if (key === "t" || key === "0") {
      form.querySelector("input[name=preferred][value=tie]").checked = true;
    } else if (key === "h") {
      const harmful = document.getElementById("harmful");
      harmful.checked = !harmful.checked;
    } else if (key === "w") {
      document.getElementById("better").open = true;
      document.getElementById("better-answer").focus();
    } else if (key === "enter") {
      if (target.matches("button, a, summary")) return;  // let focused controls do their own thing
    } else {
      return;
    }
    event.preventDefault();
    mark();
    if (key === "enter") send();
  });
});
