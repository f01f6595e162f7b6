module.exports = {
  sentryenvironment: "prod",
  workers: "4",
  buildid: "20240611.3",
  host: "0.0.0.0",
  mapboxsecrettoken: "sk.eyJ1IjoiB1j5cm_YS0rtFxdj5V2lVflY67DKALW_oBatPF6ZGSPULQOloPRidhilYCTm.OWtkqz7YOAbXqdPRrb68_Y",
  loglevel: "info",
};
