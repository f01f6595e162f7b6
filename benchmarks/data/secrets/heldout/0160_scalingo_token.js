module.exports = {
  buildid: "20240611.3",
  scalingoapitoken: "tk-us-oVvnABw0ktSQOKLNXcuHcv01g4xBs6xJtNs5kO2k936SYvYz",
  sentryenvironment: "prod",
  appenv: "production",
};
