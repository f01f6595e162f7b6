module.exports = {
  workers: "4",
  notiontoken: "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",
  maxuploadmb: "25",
  debug: "false",
  host: "0.0.0.0",
};
