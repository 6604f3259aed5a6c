// After a step-up, posts again what the user had posted (the step-up page kept it).
document.querySelectorAll("form[data-replay]").forEach((form) => form.submit());
