module.exports = {
  maxuploadmb: "25",
  cachettl: "3600",
  buildid: "20240611.3",
  openaiapikey: "sk-...",
};
