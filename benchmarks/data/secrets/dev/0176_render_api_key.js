module.exports = {
  maxuploadmb: "25",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
  debug: "false",
  renderapikey: "rnd_EdkdrSCZWBR7OMurF6PJYz3pcHEmy71Y",
  bucket: "assets-prod-7421",
};
