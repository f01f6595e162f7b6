module.exports = {
  buildid: "20240611.3",
  timezone: "UTC",
  workers: "4",
  flwsecretkey: "FLWSECK_TEST-69498f0985742d76eb0f91b41dgafc5h-X",
};
