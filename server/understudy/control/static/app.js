// The dashboard: three views in tabs, over the admin API of the server that serves it.

import { setToken, takeTokenFromFragment } from "./api.js";
import { follow, setupRequests } from "./requests.js";
import { loadScenarios, onScenarios, setupScenarios } from "./scenarios.js";
import { fillScenarios, setupTry } from "./tryit.js";

const $ = (selector) => document.querySelector(selector);
const tabs = [...document.querySelectorAll("[role=tab]")];

function select(tab) {
  for (const other of tabs) {
    const chosen = other === tab;
    other.setAttribute("aria-selected", String(chosen));
    other.tabIndex = chosen ? 0 : -1;
    $("#" + other.getAttribute("aria-controls")).hidden = !chosen;
  }
  if (tab.id !== "tab-requests") loadScenarios();
}

function setupTabs() {
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
}

// Ask for the admin token; resolves once one is given.
function askForToken() {
  const form = $("#token-form");
  form.hidden = false;
  $("#token-input").focus();
  return new Promise((resolve) => {
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        setToken($("#token-input").value);
        form.hidden = true;
        resolve();
        loadScenarios();
      },
      { once: true },
    );
  });
}

takeTokenFromFragment();
setupTabs();
setupRequests();
setupScenarios();
setupTry();
onScenarios(fillScenarios);
follow((text) => {
  $("#live-status").textContent = text;
}, askForToken);
