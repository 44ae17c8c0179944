using 'main.bicep'

// Parameters of one deployment (docs/deploy.md, step 4 "Set the deployment parameters").
// Values that differ per user are read from environment variables so that this file can stay
// in git unchanged; a missing required variable fails the deployment with its name.
// Secrets never go here: the Snap client secret is stored in the config vault afterwards.

// Required
param environmentName = readEnvironmentVariable('SNAPAUD_ENV_NAME')
param authClientId = readEnvironmentVariable('AUTH_CLIENT_ID')

// Empty on the first deployment; set once the Snap OAuth app exists (its redirect URI must be
// the SNAPCHAT_REDIRECT_URI output, and Snap does not let you edit it later).
param snapchatClientId = readEnvironmentVariable('SNAPCHAT_CLIENT_ID', '')

// Customer Insights exports: leave EXPORTS_STORAGE_ACCOUNT unset to create the container in
// the app's own storage account; set it (and EXPORTS_RESOURCE_GROUP when it lives elsewhere)
// to read an existing account.
param exportsStorageAccountName = readEnvironmentVariable('EXPORTS_STORAGE_ACCOUNT', '')
param exportsStorageAccountResourceGroup = readEnvironmentVariable('EXPORTS_RESOURCE_GROUP', '')
param exportsContainerName = readEnvironmentVariable('EXPORTS_CONTAINER', 'customer-insights')
param exportsPrefix = readEnvironmentVariable('EXPORTS_PREFIX', '')
// Other containers of that account an export may name (comma-separated; none by default).
param exportsOtherContainerNames = empty(readEnvironmentVariable('EXPORTS_OTHER_CONTAINERS', '')) ? [] : split(readEnvironmentVariable('EXPORTS_OTHER_CONTAINERS', ''), ',')

// Scale: Snap allows about 10 requests/s per access token and 20 per app. Every process of
// every instance of every scale group reserves its Snap send times in one schedule in host
// storage, so the app as a whole sends at most snapchatMaxRequestsPerSecond per connection
// (and twice that across connections) whatever maximumInstanceCount is. More instances speed
// up reading and hashing, and several connections' uploads, never one connection's rate.
param maximumInstanceCount = 1
param instanceMemoryMB = 2048
param snapchatMaxRequestsPerSecond = '8'

// Daily refresh at 03:00 UTC (six-field NCRONTAB; Flex Consumption always uses UTC).
param refreshSchedule = '0 0 3 * * *'
// ISO country of phone numbers written without a country code (DEFAULT_PHONE_REGION).
param defaultPhoneRegion = readEnvironmentVariable('DEFAULT_PHONE_REGION', 'US')

// Alerts (README "Alerts"): off until ALERT_EMAILS holds at least one address
// (comma-separated, no spaces). The thresholds below are the defaults of main.bicep.
param alertEmailAddresses = empty(readEnvironmentVariable('ALERT_EMAILS', '')) ? [] : split(readEnvironmentVariable('ALERT_EMAILS', ''), ',')
param alertInvalidSharePercent = int(readEnvironmentVariable('ALERT_INVALID_SHARE_PERCENT', '20'))
param alertAudienceDropPercent = int(readEnvironmentVariable('ALERT_AUDIENCE_DROP_PERCENT', '30'))
param alertStaleAfterDays = int(readEnvironmentVariable('ALERT_STALE_AFTER_DAYS', '2'))
