// A button with data-copy="text" puts the text on the clipboard (resource names, the account id); its label says
// so for a moment (data-copied). Included by templates/_resource_name.html, so loaded once however many it shows.
(() => {
  if (window.berthCopy) return;
  window.berthCopy = true;
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copy).then(() => {
      const label = button.textContent;
      button.textContent = button.dataset.copied || label;
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });
})();
