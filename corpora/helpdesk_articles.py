"""Hand-written Korvane help-center articles (policies, accounts, general how-to).

Markup understood by build_helpdesk.py: ``[[answer]]`` marks the gold answer inside a sentence and
``<<question one | question two>>`` right after that sentence lists the questions it answers.
"""

ARTICLES = {
    "policies/returns": """# Korvane returns policy
## Return window
Korvane wants every robot to earn its place in your home. If a product is not right for you, you can return it within [[30 days]] of the delivery date for a full refund.<<How many days do I have to return a Korvane product? | What is the return window for Korvane purchases?>> The window is counted from the day the carrier marks the parcel as delivered, not from the order date. Products bought during the holiday season follow an extended schedule. Orders delivered between 15 November and 24 December can be returned until [[31 January]] of the following year.<<Until what date can holiday-season Korvane orders be returned? | What is the holiday return deadline for Korvane orders?>>
## Condition of returned items
Returned robots should come back with their charging base, accessories and manuals. Opened items are welcome, but a restocking fee of [[10%]] applies to products returned with missing accessories.<<What restocking fee does Korvane charge for returns with missing accessories? | How much is deducted if I return a Korvane robot without all its accessories?>> Consumables such as filters, mop pads and blades cannot be returned once their sealed packaging has been opened, for hygiene reasons.
## How to start a return
Start every return from the Orders page of your Korvane account, where you choose the item and the reason. Korvane emails a prepaid return label within [[24 hours]] of the request.<<How soon after requesting a Korvane return do I get the return label? | How long does Korvane take to send a prepaid return label?>> Pack the robot in its original box if you still have it, or in a sturdy box with padding on every side. Drop the parcel at any partner carrier location and keep the receipt until the refund arrives.
## Items that cannot be returned
Gift cards, downloadable map packs and personalised accessories are final sale. Refurbished products sold through the Korvane Outlet have a shorter return window of [[14 days]].<<What is the return window for refurbished products from the Korvane Outlet? | How long can I return a Korvane Outlet refurbished item?>>
""",
    "policies/refunds": """# Refunds and refund timing
## When your refund is issued
Once a returned Korvane product reaches our returns centre, the team inspects it and approves the refund. Inspection normally finishes within [[3 business days]] of the parcel arriving at the returns centre.<<How long does Korvane take to inspect a returned product? | How many business days does the Korvane returns inspection take?>> You receive an email as soon as the refund has been approved.
## How long the money takes to arrive
Refunds go back to the original payment method. Card refunds usually appear on your statement within [[5 to 10 business days]] after approval, depending on your bank.<<How long do Korvane card refunds take to show up? | When will a Korvane refund appear on my card statement?>> Refunds paid with a Korvane gift card are restored to the gift card balance immediately.
## Partial refunds
Some refunds are partial. If a return arrives with visible damage that was not reported at delivery, Korvane may deduct up to [[25%]] of the purchase price.<<How much can Korvane deduct from a refund for undeclared damage? | What is the maximum deduction on a Korvane refund for a damaged return?>> Original shipping charges are refunded only when the return is caused by a fault or a delivery error.
## Refunds for subscriptions
Korvane Plus subscriptions can be refunded pro rata when cancelled within the first [[14 days]] of a billing period.<<Within how many days can a Korvane Plus subscription be refunded pro rata? | How soon must I cancel Korvane Plus to get a pro-rata refund?>> After that point, the subscription stays active until the end of the period and is not refunded. Questions about a missing refund can be raised with Korvane Support from the Orders page.
""",
    "policies/warranty": """# Korvane limited warranty
## What the warranty covers
The Korvane limited warranty covers defects in materials and workmanship that appear during normal household use. The length of coverage depends on the product and is listed on each product's specification page. Batteries are covered separately, with a battery warranty of [[12 months]] on every Korvane robot.<<How long is the battery warranty on Korvane robots? | What warranty applies to Korvane robot batteries?>> Battery coverage applies when capacity falls below [[70%]] of its rated value during that period.<<At what capacity loss is a Korvane battery covered under warranty? | Below what percentage of rated capacity does the Korvane battery warranty apply?>>
## What is not covered
The warranty does not cover consumables such as filters, blades, pads and brushes, or damage caused by accidents, liquid spills on indoor models, or unauthorised repairs. Cosmetic wear such as scratches on the housing is also excluded.
## Making a warranty claim
Warranty claims are opened from the Support section of the Korvane app or website. You will need the serial number, which is printed on a label under the [[dustbin or battery cover]].<<Where do I find the serial number for a Korvane warranty claim? | Where is the serial number label on a Korvane robot?>> Korvane aims to decide on every claim within [[5 business days]] and will either repair, replace or refund the product.<<How quickly does Korvane decide on a warranty claim? | How long does a Korvane warranty claim decision take?>>
## Repairs and replacements
Repaired or replacement products carry the remainder of the original warranty or [[90 days]], whichever is longer.<<How long is a Korvane repaired or replacement product covered? | What warranty applies after a Korvane warranty replacement?>> Korvane pays the shipping both ways for approved warranty repairs within the delivery countries it serves.
""",
    "policies/korvane-care": """# Korvane Care extended protection
## What Korvane Care adds
Korvane Care is an optional protection plan that extends the limited warranty of a Korvane robot and adds accident cover. It can be bought together with the robot or within [[60 days]] of the purchase date.<<How long after buying a Korvane robot can I add Korvane Care? | What is the deadline for purchasing Korvane Care?>> Each plan is tied to one serial number and moves with the robot if you sell it.
## Plan lengths and prices
Korvane Care is sold in two lengths. The two-year plan costs [[$49]] for indoor robots such as the Sweep, Glide, Pane and Aire series.<<How much is the two-year Korvane Care plan for indoor robots? | What does Korvane Care cost for a Sweep or Aire for two years?>> Outdoor robots in the Verdant and Tide series need the outdoor plan, which costs [[$89]] for two years.<<What is the price of the Korvane Care outdoor plan for Verdant and Tide robots? | How much does two years of Korvane Care cost for a lawn mower?>>
## Accident cover
Accidental damage such as a drop down the stairs or a cracked housing is covered up to [[two claims]] per plan.<<How many accidental damage claims does Korvane Care include? | What is the claim limit for accident cover under Korvane Care?>> Each accident claim carries a service fee of [[$29]], which is charged when the claim is approved.<<What is the service fee for a Korvane Care accident claim? | How much do I pay per accidental damage claim under Korvane Care?>>
## Cancelling the plan
You can cancel Korvane Care at any time from the Orders page. Plans cancelled within the first 30 days are refunded in full, and later cancellations are refunded pro rata, minus any claims already paid.
""",
    "policies/shipping": """# Shipping options and delivery times
## Standard and express delivery
Korvane ships from regional warehouses and offers two delivery speeds at checkout. Standard delivery is free on orders over [[$50]] and takes 3 to 5 business days.<<What is the minimum order for free Korvane standard shipping? | Above what amount is Korvane standard delivery free?>> Express delivery costs [[$14.99]] and arrives within two business days in most areas.<<How much does Korvane express delivery cost? | What is the price of express shipping at Korvane?>>
## Large items
Lawn mowers and pool robots in the Verdant and Tide series ship as large items because of their size and weight. Large items are delivered by a two-person crew and need a signature, and delivery takes up to [[7 business days]].<<How long does Korvane delivery of large items like Verdant mowers take? | What is the delivery time for Tide pool robots from Korvane?>>
## Order processing
Orders placed before [[2 p.m. local time]] on a business day leave the warehouse the same day.<<What is the cut-off time for same-day dispatch of Korvane orders? | By what time must I order for Korvane to ship the same day?>> Orders placed later, or at weekends, are processed on the next business day. You receive a tracking link by email as soon as the parcel is handed to the carrier.
## Missed deliveries
If nobody is home, the carrier leaves a card and tries again the next business day. After [[three failed attempts]] the parcel is returned to Korvane and the order is refunded minus the shipping charge.<<How many failed delivery attempts before a Korvane parcel goes back? | When is an undelivered Korvane order returned to the warehouse?>>
""",
    "policies/international-shipping": """# International shipping
## Where Korvane ships
Korvane currently ships to [[28 countries]] across Europe, North America and the Asia-Pacific region.<<How many countries does Korvane ship to? | To how many countries can Korvane deliver?>> The list of supported countries is shown at checkout once you enter a delivery address. Robots are sold with a plug and charger that match the destination country.
## Duties and taxes
International prices are shown with duties and taxes included for most destinations. For the remaining destinations, the carrier collects import charges on delivery, and orders with a value under [[$150]] are usually exempt from duties.<<Below what order value are Korvane international orders usually duty-free? | What is the duty-free threshold for Korvane international shipments?>>
## Delivery times abroad
International standard delivery takes between [[7 and 14 business days]] depending on customs processing.<<How long does Korvane international standard shipping take? | What is the delivery time for Korvane orders shipped abroad?>> International express delivery is available for a flat fee of [[$39]].<<How much is Korvane international express shipping? | What does express delivery abroad cost at Korvane?>>
## Battery shipping rules
Some robots contain large lithium-ion batteries that airlines restrict. Verdant lawn mowers are shipped abroad by [[ground or sea freight only]], which adds time to the delivery estimate.<<How are Verdant lawn mowers shipped internationally? | What freight method does Korvane use for Verdant mowers abroad?>> Spare batteries cannot be sent to addresses outside the country where the order was placed.
""",
    "policies/order-changes": """# Changing or cancelling an order
## Editing an order
You can change the delivery address, colour or quantity of a Korvane order for up to [[one hour]] after placing it.<<How long after ordering can I edit a Korvane order? | What is the time limit for changing a Korvane order?>> Open the Orders page, choose the order and select Edit. Once the edit window has closed, the warehouse has usually started picking the items and changes are no longer possible.
## Cancelling an order
Orders can be cancelled free of charge until they are handed to the carrier. If the order has already shipped, you can refuse the delivery or start a normal return instead. Cancelled orders are refunded within [[48 hours]] to the original payment method.<<How quickly is a cancelled Korvane order refunded? | When does Korvane refund a cancelled order?>>
## Pre-orders
New Korvane models are sometimes offered as pre-orders before launch. Pre-order customers are charged a deposit of [[20%]] at checkout and the remainder when the product ships.<<How much deposit does Korvane take for pre-orders? | What percentage is charged upfront on a Korvane pre-order?>> A pre-order can be cancelled at any time before shipment with a full refund of the deposit.
## Split shipments
Orders with several items may arrive in separate parcels. Accessories often ship from a different warehouse than robots, and each parcel has its own tracking link in the Orders page.
""",
    "policies/price-adjustment": """# Price adjustments and promotions
## Price drop protection
If Korvane lowers the price of a product you bought directly from the Korvane store, you can ask for the difference. Price adjustment requests are accepted within [[14 days]] of delivery.<<How long after delivery can I request a Korvane price adjustment? | What is the time limit for Korvane price drop protection?>> Contact Korvane Support with your order number, and the difference is refunded to the original payment method.
## Exclusions
Price adjustments do not apply to flash sales that last less than [[24 hours]], to clearance items or to bundles whose contents changed.<<Which short Korvane sales are excluded from price adjustments? | How long must a Korvane sale last to qualify for a price adjustment?>> Promotions from other retailers are not matched.
## Promotional codes
Only one promotional code can be used per order. Codes issued for newsletter sign-up give [[10% off]] the first order and expire after 30 days.<<What discount does the Korvane newsletter sign-up code give? | How much off is the Korvane newsletter welcome code?>>
## Student and carer discounts
Verified students and professional carers receive a standing discount of [[15%]] on robots bought from the Korvane store.<<How much is the Korvane student discount? | What discount do carers get at Korvane?>> Verification is handled by a partner service and must be renewed every [[12 months]].<<How often must the Korvane student discount verification be renewed? | How long is a Korvane student verification valid?>>
""",
    "policies/trade-in": """# Trade-in programme
## How trade-in works
The Korvane trade-in programme lets you send in an older robot, from Korvane or another brand, and receive credit towards a new one. Enter the details of your old robot on the trade-in page to get an instant quote. The quote stays valid for [[21 days]] after it is issued.<<How long is a Korvane trade-in quote valid? | For how many days can I use a Korvane trade-in quote?>>
## Eligible devices
Robot vacuums, robot mops, window robots and robotic mowers are accepted. Devices must be no older than [[eight years]] and must power on, even if they no longer clean properly.<<How old can a device be for the Korvane trade-in programme? | What is the age limit for Korvane trade-in devices?>> Devices with swollen or leaking batteries cannot be posted and are not eligible.
## Credit amounts
Credit depends on the category and condition of the device. A working robot vacuum earns at least [[$40]] of credit, even if it is from another brand.<<What is the minimum trade-in credit for a working robot vacuum at Korvane? | How much credit does Korvane give at least for an old robot vacuum?>> Credit is issued as a Korvane gift card once the returns centre has checked the device, usually within a week.
## Sending the device
Korvane emails a free shipping label for the trade-in device. Remove the device from your old account and erase its maps before packing it.
""",
    "policies/recycling": """# Recycling and battery disposal
## Recycling old Korvane robots
Korvane takes back any Korvane robot at the end of its life, free of charge, whatever its condition. Request a recycling label from the Support section and send the robot without its box. Recycled robots are dismantled by a certified partner, and about [[85%]] of each robot's weight is recovered as raw material.<<What share of a recycled Korvane robot's weight is recovered? | How much of an old Korvane robot is recycled by weight?>>
## Battery disposal
Lithium-ion batteries must never go into household waste. Korvane batteries can be dropped off at any participating electronics retailer, and loose batteries should have their terminals covered with [[insulating tape]] before transport.<<What should I cover Korvane battery terminals with before recycling? | How do I prepare a loose Korvane battery for drop-off?>>
## Consumables
Used filters, mop pads and brushes are not hazardous and can go into general waste. Korvane mop pads are made from recycled fibres, and used blades from Verdant mowers should be wrapped in cardboard before disposal.
## Recycling reward
Each robot returned through the recycling programme earns a voucher worth [[$15]] towards a new Korvane purchase.<<How much is the Korvane recycling voucher worth? | What reward do I get for recycling an old Korvane robot?>> The voucher is valid for [[six months]] from the date it is issued.<<How long is the Korvane recycling voucher valid? | When does the recycling reward voucher from Korvane expire?>>
""",
    "policies/privacy": """# Privacy and your home data
## What Korvane collects
Korvane robots create maps of your home or garden so that they can plan efficient routes. Maps, cleaning history and device diagnostics are stored in your Korvane account so that the app can show them on any phone you sign in with. Camera images used for obstacle recognition are processed [[on the robot itself]] and are never uploaded.<<Where are Korvane obstacle-recognition camera images processed? | Does Korvane upload the camera images used for obstacle detection?>>
## How data is protected
All traffic between robots, the app and Korvane servers is encrypted. Stored maps are encrypted with [[AES-256]] on Korvane servers.<<What encryption does Korvane use for stored maps? | How are home maps encrypted on Korvane servers?>> Korvane staff can view a map only when you grant support access for a specific ticket.
## Sharing with third parties
Korvane does not sell personal data. Anonymous diagnostics are shared only with component suppliers to fix defects, and you can opt out in the app under [[Settings > Privacy > Diagnostics]].<<Where do I turn off Korvane diagnostics sharing? | Which app setting disables anonymous Korvane diagnostics?>>
## Support access
When you grant support access, a Korvane technician can see maps and logs for that device only. Support access expires automatically after [[72 hours]] or when the ticket is closed.<<How long does Korvane support access to my device last? | When does Korvane support access expire?>> Privacy questions can be sent to the Korvane data protection officer through the contact form in the app.
""",
    "policies/data-retention": """# Data retention periods
## Cleaning history and maps
Korvane keeps data only for as long as it is useful to you or required by law. Cleaning and mowing history is kept for [[12 months]] and then deleted automatically.<<How long does Korvane keep cleaning history? | After how long is Korvane mowing history deleted?>> Saved maps stay in your account for as long as the robot is linked to it. When you remove a robot from your account, its maps are deleted after [[30 days]].<<How long after removing a robot does Korvane delete its maps? | When are maps of a removed Korvane robot erased?>>
## Diagnostic logs
Device logs help Korvane Support investigate faults. Detailed diagnostic logs are kept for [[90 days]], after which only aggregated statistics remain.<<How long does Korvane retain diagnostic logs? | For how many days are Korvane device logs kept?>> You can ask Korvane to delete diagnostic logs earlier by contacting Korvane Support, although this can make open support cases harder to investigate.
## Support conversations
Chat and email conversations with Korvane Support are retained for [[two years]] so that the history of a case is available if a fault returns.<<How long are Korvane Support chats kept? | What is the retention period for Korvane support conversations?>>
## Closed accounts
When you delete your Korvane account, personal data is erased within [[30 days]], except purchase records.<<How soon is personal data erased after deleting a Korvane account? | Within how many days does Korvane delete my data after account closure?>> Purchase records are kept for [[seven years]] because tax law requires it.<<How long does Korvane keep purchase records? | Why and for how long are Korvane invoices retained after account deletion?>>
""",
    "accounts/create-account": """# Creating a Korvane account
## Signing up
A Korvane account connects your robots to the Korvane Home app and stores their maps, schedules and warranty details. You can sign up in the app or on the website with an email address or a phone number. Passwords must be at least [[10 characters]] long and include a number.<<What is the minimum password length for a Korvane account? | How long does a Korvane password have to be?>>
## Verifying your email
After signing up, Korvane sends a verification link to your email address. The verification link expires after [[24 hours]], and you can request a new one from the sign-in screen.<<How long is the Korvane email verification link valid? | When does the Korvane account verification link expire?>> Robots cannot be added until the address has been verified.
## Age requirement
Account holders must be at least [[16 years old]].<<How old must I be to create a Korvane account? | What is the minimum age for a Korvane account holder?>> Younger family members can use the robots through household sharing without their own account.
## Regions
Your account region sets the store, currency and cloud servers that your robots use. The region can be changed only [[once every 90 days]] and moving it resets saved maps.<<How often can I change the region of my Korvane account? | Is there a limit on switching Korvane account regions?>>
""",
    "accounts/sign-in-problems": """# Sign-in problems and password reset
## Resetting your password
If you have forgotten your Korvane password, tap Forgot password on the sign-in screen and enter the email address on your account. The reset link in that email is valid for [[30 minutes]].<<How long does a Korvane password reset link last? | When does the Korvane reset password email expire?>> Choosing a new password signs you out on every other phone and browser.
## Account lockout
To protect your account, Korvane locks sign-in after [[five failed attempts]] in a row.<<How many failed sign-in attempts lock a Korvane account? | After how many wrong passwords does Korvane lock me out?>> The lock lifts automatically after [[15 minutes]], or you can reset the password to unlock it at once.<<How long does a Korvane account lockout last? | When is a locked Korvane account unlocked automatically?>>
## Sign-in codes not arriving
If sign-in codes by text message do not arrive, check that the phone number on your account is correct and that your phone can receive short-code messages. Codes can be requested again after [[60 seconds]].<<How long must I wait to request a new Korvane sign-in code? | After how many seconds can I resend the Korvane SMS code?>>
## Signed out unexpectedly
The app stays signed in for [[180 days]] on a trusted phone before it asks for the password again.<<How long does the Korvane app stay signed in on a trusted phone? | After how many days does the Korvane app ask for my password again?>>
""",
    "accounts/two-step-verification": """# Two-step verification
## Turning it on
Two-step verification protects your Korvane account with a second code on top of your password. Turn it on in the app under [[Account > Security > Two-step verification]].<<Where do I enable two-step verification in the Korvane app? | Which menu turns on Korvane two-step verification?>> You can receive codes from an authenticator app or by text message.
## Backup codes
When you turn on two-step verification, Korvane shows [[ten backup codes]] that each work once.<<How many backup codes does Korvane give for two-step verification? | How many Korvane recovery codes are issued when enabling two-step sign-in?>> Store them somewhere safe, away from your phone. You can generate a fresh set at any time, which invalidates the old codes.
## Authenticator codes
Codes from an authenticator app change every [[30 seconds]].<<How often do Korvane authenticator codes change? | How long is a Korvane two-step code valid in an authenticator app?>> If codes are rejected, check that the time on your phone is set automatically.
## Losing your phone
If you lose access to both your phone and your backup codes, Korvane Support can restore access after an identity check. The recovery process takes up to [[5 business days]] and requires proof of a Korvane purchase.<<How long does Korvane account recovery take without backup codes? | What is the waiting time to regain a Korvane account after losing my phone?>>
""",
    "accounts/household-sharing": """# Sharing robots with your household
## Inviting members
Household sharing lets the people you live with control your Korvane robots from their own phones. Open the robot in the Korvane Home app, choose Share and send an invitation by email. A household can have up to [[eight members]] including the owner.<<How many people can be in a Korvane household? | What is the member limit for Korvane household sharing?>>
## Member roles
Members can start, pause and schedule robots but cannot delete maps or remove devices. The owner can promote a member to [[co-owner]] to give them full control.<<Which Korvane household role gives a member full control? | What role must a Korvane member have to delete maps?>>
## Invitations
Invitations expire after [[seven days]] if they are not accepted.<<How long is a Korvane household invitation valid? | When do Korvane sharing invites expire?>> The invited person needs their own Korvane account, which they can create from the invitation email. Pending invitations are listed in the Share screen, where the owner can resend or withdraw them. Members can leave a household at any time from their own app.
## Guests
For short stays, the owner can create a guest pass that lets a visitor start and stop robots without an account. A guest pass is valid for up to [[72 hours]].<<How long can a Korvane guest pass last? | What is the maximum duration of a Korvane guest pass?>>
""",
    "accounts/korvane-plus": """# Korvane Plus subscription
## What Korvane Plus includes
Korvane Plus is an optional subscription that adds features on top of the free Korvane Home app. Subscribers get unlimited cleaning history, multi-floor map backups and automatic delivery of consumables. Korvane Plus costs [[$4.99 per month]] or $49 per year.<<How much does Korvane Plus cost per month? | What is the monthly price of a Korvane Plus subscription?>>
## Consumable deliveries
With Korvane Plus, filters, pads and blades are sent automatically when the robot reports they are worn. Subscribers get [[20% off]] every consumable order.<<What discount on consumables does Korvane Plus give? | How much cheaper are filters and pads with Korvane Plus?>>
## Free trial
New subscribers can try Korvane Plus free for [[one month]].<<How long is the Korvane Plus free trial? | Does Korvane Plus have a trial period and how long is it?>> The trial converts to a paid plan unless you cancel at least 24 hours before it ends.
## Robots per subscription
One Korvane Plus subscription covers up to [[five robots]] on the same account.<<How many robots does one Korvane Plus subscription cover? | What is the device limit of Korvane Plus?>> Adding a sixth robot requires a second subscription. Subscriptions are managed from Account > Subscriptions in the Korvane Home app, where you can also switch between monthly and yearly billing. Cancelling Korvane Plus keeps your maps, but cleaning history older than the free retention period is removed.
""",
    "accounts/delete-account": """# Deleting your Korvane account
## Before you delete
Deleting your Korvane account removes your maps, schedules and cleaning history and unlinks every robot. Cancel any Korvane Plus subscription first, because deletion is blocked while a paid subscription is active. Robots should be factory reset so that a new owner can set them up.
## Requesting deletion
You can delete the account in the app under Account > Privacy > Delete account. Korvane asks you to confirm by entering a code sent to your email, and the code is valid for [[10 minutes]].<<How long is the Korvane account deletion confirmation code valid? | When does the Korvane delete-account code expire?>>
## Grace period
After you confirm, the account enters a grace period of [[14 days]] during which you can cancel the deletion by signing in.<<How long is the grace period after requesting Korvane account deletion? | Can I undo deleting my Korvane account and for how long?>> When the grace period ends, the deletion cannot be reversed.
## Data export
Before deleting, you can download your data as a [[ZIP archive of JSON files]] from Account > Privacy > Export data.<<In what format does Korvane export account data? | What file format is the Korvane data export?>> Exports are usually ready within [[48 hours]] and the download link is sent by email.<<How long does a Korvane data export take? | When will my Korvane data export be ready?>>
""",
    "accounts/transfer-device": """# Transferring a robot to a new owner
## Removing the robot from your account
Before you sell or give away a Korvane robot, remove it from your account so the new owner can add it. In the Korvane Home app open the robot, choose Settings and then [[Remove device]].<<Which option removes a Korvane robot from my account? | How do I unlink a Korvane robot before selling it?>> Removing the robot also stops its schedules and deletes its maps after the retention period.
## Factory reset
A factory reset erases the Wi-Fi details and local map copies stored on the robot. On most Korvane robots, hold the power button and the home button together for [[10 seconds]] until the light turns white.<<How long do I hold the buttons to factory reset a Korvane robot? | How do I factory reset a Korvane robot before a transfer?>>
## Warranty transfer
The remaining warranty moves with the robot automatically. The new owner registers the robot in their account and uploads the original receipt within [[30 days]] of the transfer to keep Korvane Care cover.<<How long does a new owner have to register a transferred Korvane robot for Korvane Care? | Within what time must a second owner upload the receipt to keep Korvane Care?>>
## Robots locked to an account
A robot that is still linked to another account cannot be added. If the previous owner is not reachable, Korvane Support can release it with proof of purchase, which takes up to [[three business days]].<<How long does Korvane Support take to release a robot locked to another account? | How quickly can Korvane unlock a second-hand robot still linked to the old owner?>>
""",
    "accounts/voice-assistants": """# Voice assistant integration
## Linking a voice assistant
Korvane robots can be started and stopped by voice through popular smart-speaker assistants. Link your account from the Korvane Home app under [[Settings > Works with]].<<Where do I link a voice assistant in the Korvane app? | Which menu connects Korvane to my smart speaker?>> Each robot appears to the assistant under the name you gave it in the app.
## Supported commands
Voice commands can start, pause and dock a robot and can ask for its battery level. Room-specific cleaning works by voice only for robots with a saved map and [[named rooms]].<<What do I need before I can clean specific rooms by voice with Korvane? | Why can't my Korvane robot clean a room by voice command?>>
## Response time
Voice commands usually reach the robot within [[three seconds]].<<How fast do Korvane voice commands reach the robot? | What is the typical delay for a Korvane voice command?>> Longer delays usually point to a weak Wi-Fi signal near the robot. If the assistant says it cannot find a robot, open the Korvane Home app and check that the robot is online and that its name has no emoji or special characters.
## Unlinking
Unlinking from the assistant app revokes Korvane's access token immediately. After [[90 days]] without a voice command, the link is also paused automatically for security.<<After how long without use is a Korvane voice link paused? | When does Korvane pause an unused voice assistant link?>>
""",
    "how-to/schedules": """# Setting cleaning and mowing schedules
## Creating a schedule
Schedules let Korvane robots run on their own at set times. In the Korvane Home app, open a robot and tap Schedule, then choose days, a start time and the rooms or zones to include. Each robot can hold up to [[twelve schedules]].<<How many schedules can a Korvane robot store? | What is the schedule limit per Korvane robot?>>
## Quiet hours
Quiet hours stop scheduled runs from starting at night. By default Korvane quiet hours run from [[10 p.m. to 7 a.m.]] and can be changed per robot.<<What are the default Korvane quiet hours? | When do Korvane quiet hours start and end by default?>>
## Weather-aware mowing
Verdant mowers skip scheduled sessions when rain is forecast. A skipped mowing session is retried after [[two hours]] if the lawn has dried.<<When does a Verdant mower retry a session skipped for rain? | How long after a rain skip does a Korvane mower try again?>>
## Schedules while you are away
Schedules keep working without an internet connection because they are stored on the robot. Changes made in the app reach the robot the next time it is online, usually within [[one minute]].<<How quickly do Korvane schedule changes reach the robot? | How long does it take for an edited Korvane schedule to sync?>> If a schedule does not start, check that the robot is docked, charged and not paused by quiet hours or a Do Not Disturb setting.
""",
    "how-to/no-go-zones": """# Using no-go zones and virtual walls
## Drawing a no-go zone
No-go zones keep Korvane robots out of areas such as pet bowls, flower beds or a shallow pool step. Open the saved map in the Korvane Home app, tap Edit map and draw a rectangle. A zone must be at least [[30 by 30 cm]] to be saved.<<What is the minimum size of a Korvane no-go zone? | How small can a no-go zone be on a Korvane map?>>
## Virtual walls
A virtual wall is a line the robot will not cross, useful for doorways. Each map can contain up to [[twenty virtual walls]].<<How many virtual walls can a Korvane map have? | What is the limit of virtual walls per Korvane map?>>
## Mop-only zones
For the Glide robot mops and Sweep robots with mopping modules, you can draw no-mop zones that still allow vacuuming, marked in [[blue]] on the map.<<What colour are no-mop zones on the Korvane map? | How are no-mop zones shown in the Korvane app?>>
## Accuracy
Robots keep a safety margin of about [[5 cm]] from the edge of a no-go zone.<<How far do Korvane robots stay from a no-go zone edge? | What safety margin do Korvane robots keep around no-go zones?>> If a robot keeps entering a zone, run a new mapping pass so the map matches the room again. Moving furniture or the charging base can shift the map slightly, so review your zones after larger changes to a room.
""",
    "how-to/multi-floor-maps": """# Saving maps for several floors
## How multi-floor mapping works
Korvane indoor robots can remember maps of several floors and recognise which floor they are on when you carry them upstairs. Each robot can store up to [[four floor maps]].<<How many floor maps can a Korvane robot save? | What is the multi-floor map limit on Korvane robots?>> Only one floor needs a charging base; on other floors the robot finishes where it started.
## Floor recognition
After you place the robot on a new floor, it spins in place and compares what it sees with its stored maps. Floor recognition normally takes about [[20 seconds]].<<How long does Korvane floor recognition take? | How quickly does a Korvane robot recognise which floor it is on?>>
## Map backups
Maps are backed up to your account automatically whenever they change. Without Korvane Plus, the app keeps [[one backup]] per floor map.<<How many map backups does Korvane keep without Korvane Plus? | How many backups per floor map are free on Korvane?>>
## Renaming floors and rooms
Give each floor a clear name, such as Upstairs, so voice assistants and schedules refer to the right map. Room names can be up to [[24 characters]] long.<<How long can a Korvane room name be? | What is the character limit for room names in the Korvane app?>> Renaming a room does not change schedules that include it, because schedules refer to the room itself rather than to its name.
""",
    "how-to/firmware-updates": """# Installing firmware updates
## Automatic updates
Korvane releases firmware updates that add features and fix problems. Automatic updates are on by default and install during quiet hours while the robot is docked. A robot needs at least [[30% battery]] before an update starts.<<What battery level does a Korvane robot need to start a firmware update? | How much charge must a Korvane robot have before updating firmware?>>
## Updating manually
To update right away, open the robot in the Korvane Home app and tap Settings, then Firmware. A typical update takes about [[15 minutes]] including the restart.<<How long does a Korvane firmware update take? | How many minutes should I expect a Korvane update to last?>> Do not move the robot off its base while the status light is pulsing white. The release notes for every Korvane firmware version are listed in the app under Settings > Firmware > What's new, so you can see which features and fixes each version brings.
## Staged rollouts
New firmware reaches all robots over roughly [[two weeks]], so a neighbour may receive it before you do.<<How long does a Korvane firmware rollout take to reach everyone? | Why did my friend get the Korvane update first?>>
## Failed updates
If an update fails, the robot keeps its previous firmware and tries again the next night. After [[three failed attempts]], the app shows a prompt to contact Korvane Support.<<After how many failed updates does Korvane suggest contacting support? | When does the Korvane app ask me to contact support about a failed update?>>
""",
}
